import { WorkerEntrypoint } from "cloudflare:workers";
import {
  type AccountCredits,
  type Advice,
  type AdviceThresholds,
  AskRequest,
  type AskResult,
  allowanceLine,
  type CallContext,
  type CreditLine,
  type Identity,
  type LimitState,
  type Meter,
  modelAllowed,
  type ProviderId,
  type ProviderTestOutcome,
  parseInput,
  type RagResult,
  requireAdmin,
  ServiceError,
  sha256Hex,
} from "@cognomega/shared";
import {
  type AskDeps,
  type AskEvent,
  type CallOutcome,
  complete,
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
import { askEventBytes, askFailureBytes, askResult, meterOf } from "./result";
import { routerState } from "./router";
import { checkOutput, type Skill } from "./skills";
import { estimateChatTokens } from "./tokens";

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

/** How long this instance trusts the advisor's thresholds before asking again. */
const THRESHOLDS_TTL_MS = 60_000;
let knownThresholds: { at: number; value: AdviceThresholds } | undefined;

/**
 * The advisor's thresholds, cached per isolate (a value, not a promise: no request waits on another's
 * call); undefined (ask for advice every time) when they cannot be read.
 */
async function adviceThresholds(
  advisor: NonNullable<SiEnv["ADVISOR"]>,
  call: CallContext,
): Promise<AdviceThresholds | undefined> {
  const now = Date.now();
  if (knownThresholds && now - knownThresholds.at < THRESHOLDS_TTL_MS) return knownThresholds.value;
  try {
    const value = await advisor.thresholds(call);
    knownThresholds = { at: now, value };
    return value;
  } catch {
    return undefined;
  }
}

/**
 * An ask's idempotency fingerprint: a SHA-256 of its validated body (valibot emits keys in schema
 * order, so the same request always serialises the same way), never the body itself (up to 1 MiB,
 * kept with the record for two days).
 */
function fingerprint(value: unknown): Promise<string> {
  return sha256Hex(JSON.stringify(value));
}

/** Streams bytes from events; `onEnd` learns whether the stream finished or broke. */
function byteStream(
  events: AsyncGenerator<AskEvent>,
  encode: ((event: AskEvent) => Uint8Array[]) & { failure: (message: string) => Uint8Array[] },
  onEnd: (event: AskEvent | undefined) => Promise<void>,
): ReadableStream<Uint8Array> {
  let last: AskEvent | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<AskEvent>;
      try {
        next = await events.next();
      } catch (error) {
        // Never a silently broken stream: the client gets an error event, the key is released.
        console.log(JSON.stringify({ level: "error", msg: "stream failed", error: String(error) }));
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
export class SiService extends WorkerEntrypoint<SiEnv> {
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

  /** Cheaper or faster alternatives for a served call, from the advisor; never fails the call. */
  private async advise(
    outcome: Pick<CallOutcome, "model" | "usage" | "creditsMicro" | "latencyMs">,
    models: CatalogModel[],
    call: CallContext,
  ): Promise<Advice | null> {
    if (!this.env.ADVISOR) return null;
    const limits = await adviceThresholds(this.env.ADVISOR, call);
    // Below both thresholds no advice can come back: skip building the request and the round trip.
    if (limits && outcome.creditsMicro <= limits.cost_micro && outcome.latencyMs <= limits.latency_ms) return null;
    const available = providers(this.env);
    try {
      return await this.env.ADVISOR.advise(
        {
          served: {
            model: outcome.model.id,
            provider: outcome.model.provider,
            tier: outcome.model.tier,
            tokens_in: outcome.usage.tokens_in,
            tokens_out: outcome.usage.tokens_out,
            cost_micro: outcome.creditsMicro,
            latency_ms: Math.round(outcome.latencyMs),
          },
          alternatives: models
            .filter((m) => m.id !== outcome.model.id && available[m.provider].configured().ok)
            .map((m) => {
              const latency = routerState.get(m.id).latencyMs;
              return {
                model: m.id,
                provider: m.provider,
                tier: m.tier,
                price_in_per_m: m.priceInPerM,
                price_out_per_m: m.priceOutPerM,
                ...(latency === undefined ? {} : { latency_ms: Math.round(latency) }),
              };
            }),
        },
        call,
      );
    } catch (error) {
      console.log(
        JSON.stringify({ level: "warn", msg: "advisor failed", request_id: call.requestId, error: String(error) }),
      );
      return null;
    }
  }

  /** A non-streaming call with the skill's output check and, if needed, one repair attempt. */
  private async completeWithSkill(
    deps: AskDeps,
    input: PlanInput,
    models: CatalogModel[],
  ): Promise<{ outcome: CallOutcome; data?: unknown; schemaError?: string }> {
    const { plan, skill } = buildPlan(input, models, deps.providers, deps.settings, deps.state);
    const first = await complete(deps, plan);
    const checked = checkOutput(skill, first.output);
    if (checked.ok) return checked.data === undefined ? { outcome: first } : { outcome: first, data: checked.data };
    return this.repair(deps, plan, skill, first, checked.problem);
  }

  private async repair(
    deps: AskDeps,
    plan: ReturnType<typeof buildPlan>["plan"],
    skill: Skill,
    first: CallOutcome,
    problem: string,
  ): Promise<{ outcome: CallOutcome; data?: unknown; schemaError?: string }> {
    const messages = [
      ...plan.messages,
      { role: "assistant" as const, content: first.output },
      {
        role: "user" as const,
        content: `That reply is not valid for the required JSON format (${problem}). Reply again with only the corrected JSON.`,
      },
    ];
    // The repair prompt carries the first answer: estimate it again, and check it still fits.
    const tokensInEstimate = estimateChatTokens(messages);
    if (tokensInEstimate + plan.maxTokens > first.model.contextWindow) {
      return { outcome: first, schemaError: `${problem} (no room left in the context window to repair it)` };
    }
    let second: CallOutcome;
    try {
      second = await complete(deps, {
        ...plan,
        messages,
        tokensInEstimate,
        policy: "pinned",
        candidates: [first.model],
        holdKey: `${plan.holdKey}:repair`,
      });
    } catch (error) {
      // The first answer was delivered and paid for: keep it, and say why it is not validated.
      const reason = error instanceof Error ? error.message : String(error);
      return { outcome: first, schemaError: `${problem}; the repair attempt failed: ${reason}` };
    }
    const outcome: CallOutcome = {
      ...second,
      usage: {
        tokens_in: first.usage.tokens_in + second.usage.tokens_in,
        tokens_out: first.usage.tokens_out + second.usage.tokens_out,
        estimated: first.usage.estimated || second.usage.estimated,
      },
      creditsMicro: first.creditsMicro + second.creditsMicro,
      route: {
        ...first.route,
        reason: `${first.route.reason}; repaired once (${problem})`,
        attempts: [...first.route.attempts, ...second.route.attempts],
      },
      latencyMs: first.latencyMs + second.latencyMs,
    };
    const checked = checkOutput(skill, second.output);
    if (checked.ok) return { outcome, data: checked.data };
    return { outcome, schemaError: checked.problem };
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
    const body = parseInput(AskRequest, input);
    const planInput = planInputFromAsk(body);
    const deps = this.deps(identity, call, { stream: planInput.stream });
    const models = await tenantModels(this.env, await this.models(), identity, call, planInput.model);
    if (idempotencyKey !== null && !/^[\x21-\x7e]{1,300}$/.test(idempotencyKey)) {
      throw new ServiceError("invalid_input", "Idempotency-Key must be 1-255 visible ASCII characters", {
        issues: [{ path: "Idempotency-Key", message: "invalid" }],
      });
    }
    const key = idempotencyKey === null ? undefined : `ask:${idempotencyKey}`;
    if (key) {
      const begun = await this.env.BILLING.beginOperation(identity, key, await fingerprint(body), call, {
        leaseSeconds: operationLeaseSeconds(deps.settings, planInput.stream),
      });
      if (begun.state === "new") {
        // An answer is charged whole or not at all: named by the operation's record (never by the
        // client's key), every run of this ask is charged once, and the key reused after its record
        // is gone is billed anew. A stream keeps a charge of its own per run: a run cut short was
        // charged for what it sent, and the run that retries it must be charged for its own.
        if (!planInput.stream) planInput.holdKey = `ask:k:${begun.nonce}`;
      } else {
        const result = JSON.parse(begun.response) as AskResult;
        if (!planInput.stream) return { body: result, meter: meterOf(result) };
        const { output: _output, ...rest } = result;
        const bytes = new TextEncoder().encode(
          `event: token\ndata: ${JSON.stringify({ text: result.output })}\n\nevent: done\ndata: ${JSON.stringify({ ...rest, replayed: true })}\n\n`,
        );
        return { stream: new Blob([bytes]).stream(), meter: { provider: result.provider, model: result.model } };
      }
    }
    try {
      let sources: RagResult[] = [];
      if (body.rag) {
        const grounded = await ground(this.env.RAG, identity, planInput.messages, body.rag.k, call);
        planInput.messages = grounded.messages;
        sources = grounded.sources;
      }
      if (planInput.stream) {
        const { plan } = buildPlan(planInput, models, deps.providers, deps.settings, deps.state);
        const opened = await openStream(deps, plan);
        let advice: Advice | null = null;
        const stream = byteStream(
          adviseBeforeDone(opened.events, async (outcome) => {
            advice = await this.advise(outcome, models, call);
          }),
          Object.assign((event: AskEvent) => [askEventBytes(event, call, advice, sources)], {
            failure: (message: string) => askFailureBytes(message, call),
          }),
          async (last) => {
            if (!key) return;
            if (last?.type === "done")
              await this.env.BILLING.completeOperation(
                identity,
                key,
                JSON.stringify(askResult(last.outcome, call, { advice, sources })),
                call,
              );
            else await this.env.BILLING.abandonOperation(identity, key, call);
          },
        );
        return withLimits({ stream, meter: { provider: opened.model.provider, model: opened.model.id } }, deps);
      }
      // The advisor runs while the call is being settled, not after it.
      let advising: Promise<Advice | null> = Promise.resolve(null);
      deps.onAnswered = (answered) => {
        advising = this.advise(
          {
            model: answered.model,
            usage: answered.usage,
            creditsMicro: answered.costMicro,
            latencyMs: answered.latencyMs,
          },
          models,
          call,
        );
      };
      const { outcome, data, schemaError } = await this.completeWithSkill(deps, planInput, models);
      const advice = await advising;
      const extra: { data?: unknown; schemaError?: string; advice?: Advice | null; sources?: RagResult[] } = {
        advice,
        sources,
      };
      if (data !== undefined) extra.data = data;
      if (schemaError !== undefined) extra.schemaError = schemaError;
      const result = askResult(outcome, call, extra);
      if (key) {
        // An answer kept for replays is kept only once its charge is in the ledger.
        await deps.credits.settled();
        await this.env.BILLING.completeOperation(identity, key, JSON.stringify(result), call);
      }
      return withLimits({ body: result, meter: meterOf(result) }, deps);
    } catch (error) {
      if (key) await this.env.BILLING.abandonOperation(identity, key, call);
      throw error;
    }
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
      );
      return withLimits({ stream, meter: { provider: opened.model.provider, model: opened.model.id } }, deps);
    }
    const { outcome } = await this.completeWithSkill(deps, planInput, models);
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
export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<SiEnv>;
