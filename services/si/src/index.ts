import {
  type AccountCredits,
  type Advice,
  AskRequest,
  type AskResult,
  allowanceLine,
  type CallContext,
  type CreditLine,
  type Identity,
  type LimitState,
  logEvent,
  type Meter,
  modelAllowed,
  type OperationRecord,
  type ProviderId,
  type ProviderTestOutcome,
  parseInput,
  type RagResult,
  requireAdmin,
  runOnce,
  scopedIdempotencyKey,
  sha256Hex,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { advise } from "./advice";
import {
  type AskDeps,
  type AskEvent,
  type CallOutcome,
  holdTtlSeconds,
  openStream,
  operationLeaseSeconds,
} from "./ask";
import { type CatalogModel, callCost, catalogEntries, loadCatalog, resetCatalog, storeCatalog } from "./catalog";
import { type SiSettings, siSettings } from "./config";
import { isolateAllowances, perCallHolds } from "./credit-line";
import { ground } from "./grounding";
import { modelsGate, tenantModels } from "./model-gate";
import { chatCompletion, chunkEncoder, fromChatCompletion, modelList } from "./openai";
import { buildPlan, type PlanInput, planInputFromAsk } from "./plan";
import { providers } from "./providers";
import { askEventBytes, askFailureBytes, askResult, meterOf, replayedStreamBytes } from "./result";
import { routerState } from "./router";
import { completeWithSkill } from "./skill-call";

/** A streamed answer: the bytes, plus the headers known when it starts. */
export interface StreamedAnswer {
  stream: ReadableStream<Uint8Array>;
  meter: Meter;
  /** The caller's daily credit budget as this instance last saw it, when it knows it. */
  dailyCredits?: LimitState["daily_credits"];
}

/** A complete answer and its billing headers. */
export interface JsonAnswer<T> {
  body: T;
  meter: Meter;
  /** The caller's daily credit budget as this instance last saw it, after this call's charge. */
  dailyCredits?: LimitState["daily_credits"];
}

function allowanceAccount(env: SiEnv, identity: Identity, settings: SiSettings): AccountCredits {
  return isolateAllowances.account(env.BILLING, identity, {
    targetMicro: settings.allowanceMicro,
    idleMs: settings.allowanceIdleMs,
    batchMs: settings.settleBatchMs,
    callTtlSeconds: holdTtlSeconds(settings, false),
  });
}

/**
 * An ask's idempotency fingerprint: a SHA-256 of its validated body (valibot emits keys in schema
 * order, so the same request always serialises the same way), never the body itself (up to 1 MiB,
 * kept with the record for two days).
 */
function fingerprint(value: unknown): Promise<string> {
  return sha256Hex(JSON.stringify(value));
}

/** An ask as validated: its body, what its plan is built from, and its ledger key when it has one. */
interface ValidAsk {
  body: AskRequest;
  planInput: PlanInput;
  /** `ask:<the caller's scoped key>`. */
  key: string | undefined;
}

/** The body against its schema and the key against the shared rule for scoped keys (400 either way). */
function validateAsk(input: unknown, idempotencyKey: string | null): ValidAsk {
  const body = parseInput(AskRequest, input);
  const key = scopedIdempotencyKey(idempotencyKey);
  return { body, planInput: planInputFromAsk(body), key: key === null ? undefined : `ask:${key}` };
}

/** A stored answer, as the ask asked for it: the JSON again, or a stream of it marked `replayed`. */
function replayedAnswer(result: AskResult, stream: boolean): JsonAnswer<AskResult> | StreamedAnswer {
  if (!stream) return { body: result, meter: meterOf(result) };
  return {
    stream: new Blob(replayedStreamBytes(result)).stream(),
    meter: { provider: result.provider, model: result.model },
  };
}

/** Streams bytes from events; `onEnd` learns whether the stream finished or broke. */
function byteStream(
  events: AsyncGenerator<AskEvent>,
  encode: ((event: AskEvent) => Uint8Array[]) & { failure: (message: string) => Uint8Array[] },
  onEnd: (event: AskEvent | undefined) => Promise<void>,
  call: CallContext,
): ReadableStream<Uint8Array> {
  let last: AskEvent | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<AskEvent>;
      try {
        next = await events.next();
      } catch (error) {
        // Never a silently broken stream: the client gets an error event, the key is released.
        logEvent("error", "stream failed", { request_id: call.requestId, error });
        for (const bytes of encode.failure(error instanceof Error ? error.message : String(error)))
          controller.enqueue(bytes);
        await onEnd(undefined);
        controller.close();
        return;
      }
      if (next.done) {
        await onEnd(last);
        controller.close();
        return;
      }
      last = next.value;
      for (const bytes of encode(next.value)) controller.enqueue(bytes);
    },
    async cancel() {
      await events.return(undefined);
      await onEnd(undefined);
    },
  });
}

/**
 * Skills and the model router. Every call is billed through BillingService: a hold for the worst
 * case before any provider is called, settled at the actual cost after.
 */
export class SiService extends MeshEntrypoint<SiEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "si"; ok: true }> {
    return { service: "si", ok: true };
  }

  /**
   * What an ask runs with. A non-streaming call holds credits from the account's allowance in this
   * instance (no ledger round trip while it lasts); a stream takes one ledger hold of its own,
   * because its hold must outlive a long answer.
   */
  private deps(identity: Identity, call: CallContext, mode: { stream: boolean }): AskDeps {
    const settings = siSettings(this.env);
    const waitUntil = (promise: Promise<unknown>) => this.ctx.waitUntil(promise);
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const credits: CreditLine = mode.stream
      ? perCallHolds(this.env.BILLING, identity, call)
      : allowanceLine(() => allowanceAccount(this.env, identity, settings), { call, waitUntil, sleep });
    return {
      env: this.env,
      identity,
      call,
      providers: providers(this.env),
      state: routerState,
      settings,
      credits,
      waitUntil,
      now: () => Date.now(),
      sleep,
    };
  }

  private async models(): Promise<CatalogModel[]> {
    return loadCatalog(this.env.KV_SI, siSettings(this.env).creditsPerUsd);
  }

  /**
   * `POST /api/si/ask`. Without `stream`, the answer with usage, credits, balance, provider, model,
   * route and advice; with `stream`, Cognomega's SSE stream. With an idempotency key a retry
   * returns the first answer instead of being billed again. Requests are counted by the gateway
   * before they get here; jobs' asks are not requests and are not counted.
   */
  async ask(
    input: unknown,
    identity: Identity,
    idempotencyKey: string | null,
    call: CallContext,
  ): Promise<JsonAnswer<AskResult> | StreamedAnswer> {
    const ask = validateAsk(input, idempotencyKey);
    const { deps, models } = await this.admit(ask.planInput, identity, call);
    return runOnce(this.askRecord(ask, identity, deps, call), () => fingerprint(ask.body), {
      replay: (response) => replayedAnswer(JSON.parse(response) as AskResult, ask.planInput.stream),
      answer: (answer) => JSON.stringify("body" in answer ? answer.body : null),
      run: async (operation) => {
        // An answer is charged whole or not at all: named by the operation's record (never by the
        // client's key), every run of this ask is charged once, and the key reused after its record
        // is gone is billed anew. A stream keeps a charge of its own per run: a run cut short was
        // charged for what it sent, and the run that retries it must be charged for its own.
        if (operation.nonce !== undefined && !ask.planInput.stream) ask.planInput.holdKey = `ask:k:${operation.nonce}`;
        const sources = await this.groundAsk(ask, identity, call);
        if (ask.planInput.stream) return this.streamAnswer(deps, ask.planInput, models, sources, operation.defer());
        return this.jsonAnswer(deps, ask.planInput, models, sources, operation.nonce !== undefined);
      },
    });
  }

  /** What an ask runs with: its credit line, and the catalog models the caller may use (`si.models`). */
  private async admit(
    planInput: PlanInput,
    identity: Identity,
    call: CallContext,
  ): Promise<{ deps: AskDeps; models: CatalogModel[] }> {
    const deps = this.deps(identity, call, { stream: planInput.stream });
    const models = await tenantModels(this.env, await this.models(), identity, call, planInput.model);
    return { deps, models };
  }

  /** The ledger record of an ask under a key (`ask:<key>`), leased as long as the ask may run. */
  private askRecord(ask: ValidAsk, identity: Identity, deps: AskDeps, call: CallContext): OperationRecord | undefined {
    const { key } = ask;
    if (key === undefined) return undefined;
    const billing = this.env.BILLING;
    const leaseSeconds = operationLeaseSeconds(deps.settings, ask.planInput.stream);
    return {
      begin: (fingerprint) => billing.beginOperation(identity, key, fingerprint, call, { leaseSeconds }),
      complete: (response) => billing.completeOperation(identity, key, response, call),
      abandon: () => billing.abandonOperation(identity, key, call),
    };
  }

  /** With `rag`, the caller's best chunks go into the prompt; the sources they came from are returned. */
  private async groundAsk(ask: ValidAsk, identity: Identity, call: CallContext): Promise<RagResult[]> {
    if (!ask.body.rag) return [];
    const grounded = await ground(this.env.RAG, identity, ask.planInput.messages, ask.body.rag.k, call);
    ask.planInput.messages = grounded.messages;
    return grounded.sources;
  }

  /**
   * A streamed ask: the events as they come, the advice just before `done`, and the record ended
   * when the stream is (its answer stored after `done`, the key released when it broke off).
   */
  private async streamAnswer(
    deps: AskDeps,
    planInput: PlanInput,
    models: CatalogModel[],
    sources: RagResult[],
    endRecord: (response: string | undefined) => Promise<void>,
  ): Promise<StreamedAnswer> {
    const { call } = deps;
    const { plan } = buildPlan(planInput, models, deps.providers, deps.settings, deps.state);
    const opened = await openStream(deps, plan);
    let advice: Advice | null = null;
    const stream = byteStream(
      adviseBeforeDone(opened.events, async (outcome) => {
        advice = await advise(this.env, outcome, models, call);
      }),
      Object.assign((event: AskEvent) => [askEventBytes(event, call, advice, sources)], {
        failure: (message: string) => askFailureBytes(message, call),
      }),
      (last) =>
        endRecord(
          last?.type === "done" ? JSON.stringify(askResult(last.outcome, call, { advice, sources })) : undefined,
        ),
      call,
    );
    return withLimits({ stream, meter: { provider: opened.model.provider, model: opened.model.id } }, deps);
  }

  /**
   * A complete ask: the skill's call (repaired once if its output is off), with the advisor asked
   * while the call is being settled, not after it. An answer kept for replays (`keyed`) is returned
   * only once its charge is in the ledger.
   */
  private async jsonAnswer(
    deps: AskDeps,
    planInput: PlanInput,
    models: CatalogModel[],
    sources: RagResult[],
    keyed: boolean,
  ): Promise<JsonAnswer<AskResult>> {
    let advising: Promise<Advice | null> = Promise.resolve(null);
    deps.onAnswered = (answered) => {
      advising = advise(
        this.env,
        {
          model: answered.model,
          usage: answered.usage,
          creditsMicro: answered.costMicro,
          latencyMs: answered.latencyMs,
        },
        models,
        deps.call,
      );
    };
    const { outcome, data, schemaError } = await completeWithSkill(deps, planInput, models);
    const extra: { data?: unknown; schemaError?: string; advice?: Advice | null; sources?: RagResult[] } = {
      advice: await advising,
      sources,
    };
    if (data !== undefined) extra.data = data;
    if (schemaError !== undefined) extra.schemaError = schemaError;
    const result = askResult(outcome, deps.call, extra);
    if (keyed) await deps.credits.settled();
    return withLimits({ body: result, meter: meterOf(result) }, deps);
  }

  /** OpenAI-compatible `POST /v1/chat/completions`, billed and routed like `ask`. */
  async chatCompletions(
    input: unknown,
    identity: Identity,
    call: CallContext,
  ): Promise<JsonAnswer<ReturnType<typeof chatCompletion>> | StreamedAnswer> {
    const { plan: planInput, includeUsage } = fromChatCompletion(input);
    const deps = this.deps(identity, call, { stream: planInput.stream });
    const models = await tenantModels(this.env, await this.models(), identity, call, planInput.model);
    const created = Math.floor(Date.now() / 1000);
    if (planInput.stream) {
      const { plan } = buildPlan(planInput, models, deps.providers, deps.settings, deps.state);
      const opened = await openStream(deps, plan);
      const stream = byteStream(
        opened.events,
        chunkEncoder(opened.model, call.requestId, created, includeUsage),
        async () => {},
        call,
      );
      return withLimits({ stream, meter: { provider: opened.model.provider, model: opened.model.id } }, deps);
    }
    const { outcome } = await completeWithSkill(deps, planInput, models);
    const body = chatCompletion(outcome, call.requestId, created);
    return withLimits(
      {
        body,
        meter: meterOf({
          usage: outcome.usage,
          credits_used: body.cognomega.credits_used,
          balance: body.cognomega.balance,
          provider: outcome.model.provider,
          model: outcome.model.id,
        }),
      },
      deps,
    );
  }

  /**
   * `GET /v1/models`: the catalog models whose provider is configured; given the caller, only those
   * `si.models` lets it use.
   */
  async listModels(call: CallContext, identity?: Identity): Promise<ReturnType<typeof modelList>> {
    const all = providers(this.env);
    const allowed = identity === undefined ? undefined : await modelsGate(this.env, identity, call);
    return modelList(
      (await this.models()).filter(
        (m) => all[m.provider].configured().ok && (allowed === undefined || modelAllowed(allowed, m.id)),
      ),
    );
  }

  /** `GET /api/ai/binding`: which providers are configured and healthy, and why not. */
  async providerStatus(_call: CallContext) {
    const all = providers(this.env);
    const models = await this.models();
    const now = Date.now();
    return {
      providers: (Object.keys(all) as ProviderId[]).map((id) => {
        const configured = all[id].configured();
        const own = models.filter((m) => m.provider === id);
        const circuits = Object.fromEntries(own.map((m) => [m.id, routerState.circuit(m.id, now)]));
        const open = Object.values(circuits).filter((state) => state === "open").length;
        return {
          id,
          configured: configured.ok,
          ...(configured.ok ? {} : { reason: configured.reason }),
          healthy: configured.ok && own.length > 0 && open < own.length,
          models: own.map((m) => m.id),
          circuits,
        };
      }),
    };
  }

  /** Admin `POST /api/ai/test`: one tiny unbilled call per configured provider, with its latency. */
  async testProviders(identity: Identity, _call: CallContext) {
    requireAdmin(identity);
    const all = providers(this.env);
    const models = await this.models();
    const results: ProviderTestOutcome[] = [];
    for (const id of Object.keys(all) as ProviderId[]) {
      const provider = all[id];
      const configured = provider.configured();
      if (!configured.ok) {
        results.push({ provider: id, ok: false, skipped: true, reason: configured.reason });
        continue;
      }
      const model = models.filter((m) => m.provider === id).sort((a, b) => callCost(a, 10, 5) - callCost(b, 10, 5))[0];
      if (!model) {
        results.push({ provider: id, ok: false, skipped: true, reason: "no model in the catalog" });
        continue;
      }
      const started = Date.now();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 10_000);
      try {
        const reply = await provider.complete({
          model,
          messages: [{ role: "user", content: "Reply with the word ok." }],
          maxTokens: 5,
          signal: controller.signal,
        });
        results.push({
          provider: id,
          model: model.id,
          ok: true,
          ms: Date.now() - started,
          reply: reply.text.slice(0, 40),
        });
      } catch (error) {
        results.push({
          provider: id,
          model: model.id,
          ok: false,
          ms: Date.now() - started,
          error: error instanceof Error ? error.message : String(error),
        });
      } finally {
        clearTimeout(timer);
      }
    }
    return { results };
  }

  /** Admin: the catalog in force and where it comes from. */
  async getCatalog(identity: Identity, _call: CallContext) {
    requireAdmin(identity);
    return catalogEntries(this.env.KV_SI);
  }

  /** Admin: replaces the catalog (validated) without a deploy. */
  async setCatalog(input: unknown, identity: Identity, _call: CallContext) {
    requireAdmin(identity);
    const models = await storeCatalog(this.env.KV_SI, input, siSettings(this.env).creditsPerUsd);
    return { source: "override" as const, models };
  }

  /** Admin: drops the override; the default catalog applies again. */
  async resetCatalog(identity: Identity, _call: CallContext) {
    requireAdmin(identity);
    await resetCatalog(this.env.KV_SI);
    return catalogEntries(this.env.KV_SI);
  }
}

/** Adds the caller's daily credit budget, as the allowance last saw it, for the gateway's headers. */
function withLimits<T extends JsonAnswer<unknown> | StreamedAnswer>(answer: T, deps: AskDeps): T {
  const dailyCredits = deps.credits.dailyCredits();
  if (dailyCredits) answer.dailyCredits = dailyCredits;
  return answer;
}

/** Runs `before` on the final outcome just before the `done` event goes out. */
async function* adviseBeforeDone(
  events: AsyncGenerator<AskEvent>,
  before: (outcome: CallOutcome) => Promise<void>,
): AsyncGenerator<AskEvent> {
  try {
    for (;;) {
      const next = await events.next();
      if (next.done) return;
      if (next.value.type === "done") await before(next.value.outcome);
      yield next.value;
    }
  } finally {
    await events.return(undefined);
  }
}

/** Internal workers have no HTTP surface. */
/** What other workers bind to (`"entrypoint": "SiEntrypoint"`): SiService, answering refusals as values. */
export const SiEntrypoint = refusingEntrypoint<SiEnv, typeof SiService>(SiService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<SiEnv>;
