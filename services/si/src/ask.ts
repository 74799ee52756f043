import type { CreditLine, HeldCall } from "@cognomega/shared";
import {
  type CallContext,
  type ChatMessage,
  type ErrorCode,
  type Identity,
  logEvent,
  microToCredits,
  type ProviderId,
  type RouteAttempt,
  type RouteInfo,
  type RoutingPolicy,
  ServiceError,
  type Tier,
} from "@cognomega/shared";
import { type CatalogModel, callCost } from "./catalog";
import type { SiSettings } from "./config";
import { type Provider, ProviderFailure, type ProviderReply, type ProviderUsage, type StreamPiece } from "./providers";
import { backoffMs, MAX_RETRY_AFTER_WAIT_MS, type RouterState } from "./router";
import { CHAT_TOKENS_PER_MESSAGE, estimateTokens } from "./tokens";

/** Below this much budget left, no new attempt starts. */
const MIN_ATTEMPT_MS = 50;
/** At most this many models are called for one ask (skipped ones do not count). */
const MAX_MODELS_CALLED = 4;

/** Everything an ask needs from its surroundings; tests swap the clock and the sleeper. */
export interface AskDeps {
  env: SiEnv;
  identity: Identity;
  call: CallContext;
  providers: Record<ProviderId, Provider>;
  state: RouterState;
  settings: SiSettings;
  /** Where holds come from: the account's allowance, or one ledger hold per call. */
  credits: CreditLine;
  waitUntil(promise: Promise<unknown>): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Told the cost of an answered call just before it is settled, so advice can run alongside. */
  onAnswered?(answered: {
    model: CatalogModel;
    usage: CallOutcome["usage"];
    costMicro: number;
    latencyMs: number;
  }): void;
}

/** A routed call, decided before any provider is contacted. */
export interface AskPlan {
  messages: ChatMessage[];
  maxTokens: number;
  temperature?: number;
  policy: RoutingPolicy | "pinned";
  tier: Tier;
  candidates: CatalogModel[];
  /**
   * The ask's charge id: one per ask (and one for its repair call), whichever candidate serves it,
   * so that a retried ask is charged once even when another model answers it.
   */
  holdKey: string;
  tokensInEstimate: number;
}

/** What one successful (or, for streams, ended) call produced and cost. */
export interface CallOutcome {
  model: CatalogModel;
  output: string;
  usage: { tokens_in: number; tokens_out: number; estimated: boolean };
  creditsMicro: number;
  balanceMicro: number;
  route: RouteInfo;
  latencyMs: number;
  finishReason?: string;
}

/** What a streaming ask emits, before any wire format. */
export type AskEvent =
  | { type: "token"; text: string }
  | { type: "done"; outcome: CallOutcome }
  | { type: "error"; code: ErrorCode; message: string; outcome: CallOutcome };

const encoder = new TextEncoder();

/**
 * Tokens held or charged for text no provider has counted: `estimate`, but at least a third of the
 * texts' UTF-8 bytes (plus `perText` each), never more than `cap`. The estimate can under-count text
 * unlike natural language several times over (random punctuation runs ~9× over it); a third of the
 * bytes covers that, and `cap` is what the model can take or emit at all.
 */
function paddedTokens(estimate: number, texts: readonly string[], perText: number, cap: number): number {
  let bytes = 0;
  for (const text of texts) bytes += encoder.encode(text).length;
  return Math.min(cap, Math.max(estimate, Math.ceil(bytes / 3) + perText * texts.length));
}

/**
 * Input tokens a hold covers: the padded estimate, within the model's context window. What still
 * exceeds the hold is charged from the balance.
 */
function reserveTokensIn(plan: AskPlan, model: CatalogModel): number {
  return paddedTokens(
    Math.ceil(plan.tokensInEstimate * 1.25) + 16,
    plan.messages.map((message) => message.content),
    CHAT_TOKENS_PER_MESSAGE,
    model.contextWindow,
  );
}

/**
 * How long an ask under an idempotency key may run, for its in-flight lease at the ledger: a retry
 * may not take it over before. A stream runs up to its cap after the latency budget; a call with a
 * skill may make a repair call after the first; and the answer waits for its charge to be written.
 */
export function operationLeaseSeconds(settings: SiSettings, stream: boolean): number {
  const callsMs = stream ? settings.latencyBudgetMs + settings.streamMaxMs : 2 * settings.latencyBudgetMs;
  return Math.ceil(callsMs / 1000) + 120;
}

/** A hold outlives the call it covers: the latency budget, plus the stream cap for streams. */
export function holdTtlSeconds(settings: SiSettings, stream: boolean): number {
  return Math.min(3600, Math.ceil((settings.latencyBudgetMs + (stream ? settings.streamMaxMs : 0)) / 1000) + 120);
}

function asFailure(error: unknown): ProviderFailure {
  if (error instanceof ProviderFailure) return error;
  return new ProviderFailure("server_error", error instanceof Error ? error.message : String(error));
}

function outcomeOf(failure: ProviderFailure): RouteAttempt["outcome"] {
  switch (failure.kind) {
    case "rate_limited":
    case "server_error":
    case "timeout":
    case "connection_error":
      return failure.kind;
    default:
      return "rejected";
  }
}

/** Counts a failed call against the model (EWMA, circuit) and in the route's attempts. */
function recordFailedAttempt(
  deps: AskDeps,
  model: CatalogModel,
  error: unknown,
  started: number,
  attempts: RouteAttempt[],
): ProviderFailure {
  const failure = asFailure(error);
  deps.state.recordFailure(model.id, failure.kind, deps.now());
  const attempt: RouteAttempt = {
    provider: model.provider,
    model: model.id,
    outcome: outcomeOf(failure),
    ms: deps.now() - started,
  };
  if (failure.status !== undefined) attempt.status = failure.status;
  attempts.push(attempt);
  return failure;
}

/** How long to wait before retrying the same model, or undefined to fall back now. */
function retryWait(failure: ProviderFailure, retry: number, remainingMs: number): number | undefined {
  if (retry >= 1) return undefined;
  let wait: number | undefined;
  if (failure.kind === "rate_limited") {
    if (failure.retryAfterMs !== undefined) {
      // Honour Retry-After only when it fits the request's latency budget.
      if (failure.retryAfterMs > MAX_RETRY_AFTER_WAIT_MS) return undefined;
      wait = failure.retryAfterMs + Math.round(Math.random() * 50);
    } else {
      wait = backoffMs(1);
    }
  } else if (failure.kind === "server_error" || failure.kind === "timeout" || failure.kind === "connection_error") {
    wait = backoffMs(0);
  }
  if (wait === undefined || wait + MIN_ATTEMPT_MS >= remainingMs) return undefined;
  return wait;
}

function reasonFor(plan: AskPlan, model: CatalogModel, attempts: RouteAttempt[]): string {
  if (plan.policy === "pinned") return `pinned to ${model.id}`;
  const failed = attempts
    .filter((a) => a.outcome !== "ok" && a.model !== model.id)
    .map((a) => `${a.model} (${a.outcome})`);
  const base =
    failed.length > 0
      ? `fell back to ${model.id} after ${[...new Set(failed)].join(", ")}`
      : `${model.id} ranked first`;
  const tier = model.tier === plan.tier ? "" : `; no ${plan.tier}-tier model could answer`;
  return `${plan.policy}: ${base}${tier}`;
}

/** Charges a finished call: the provider's counts, else an estimate. */
function settle(
  held: HeldCall,
  model: CatalogModel,
  usage: { tokens_in: number; tokens_out: number; estimated: boolean },
): Promise<{ charged: number; balance: number }> {
  return held.settle(callCost(model, usage.tokens_in, usage.tokens_out), {
    tokens_in: usage.tokens_in,
    tokens_out: usage.tokens_out,
    provider: model.provider,
    model: model.id,
    estimated: usage.estimated,
  });
}

/**
 * Input tokens charged when the provider reported none: a provider bills the whole prompt once it
 * accepted it, and the estimate can under-count it several times over, so at least the hold's bound.
 */
function estimatedTokensIn(plan: AskPlan, model: CatalogModel): number {
  return Math.max(plan.tokensInEstimate, reserveTokensIn(plan, model));
}

/**
 * Output tokens charged when the provider reported none: what the client got is no measure of what
 * was generated (it chooses when to cut a stream), so at least the padded bound of the text, and all
 * of `max_tokens` when the provider says it stopped there; never more than `max_tokens`.
 */
function estimatedTokensOut(plan: AskPlan, output: string, finishReason: string | undefined): number {
  if (finishReason === "length") return plan.maxTokens;
  return paddedTokens(estimateTokens(output), [output], 0, plan.maxTokens);
}

function usageFrom(
  reported: ProviderUsage | undefined,
  plan: AskPlan,
  model: CatalogModel,
  output: string,
  finishReason: string | undefined,
) {
  if (reported) return { tokens_in: reported.tokensIn, tokens_out: reported.tokensOut, estimated: false };
  return {
    tokens_in: estimatedTokensIn(plan, model),
    tokens_out: estimatedTokensOut(plan, output, finishReason),
    estimated: true,
  };
}

function noAnswer(attempts: RouteAttempt[], needed: number | undefined): ServiceError {
  const called = attempts.some((a) => !a.outcome.startsWith("skipped"));
  if (!called && needed !== undefined) {
    return new ServiceError(
      "insufficient_credits",
      `this call may cost up to ${microToCredits(needed)} credits; top up or lower max_tokens`,
      {
        needed: microToCredits(needed),
        attempts,
      },
    );
  }
  if (attempts.length === 0)
    return new ServiceError("upstream_unavailable", "no configured model can serve this call", { attempts });
  return new ServiceError("upstream_unavailable", "no provider could answer; see attempts", { attempts });
}

/** One model, with at most one retry (jittered; Retry-After when it fits the budget). */
async function callModel(
  deps: AskDeps,
  plan: AskPlan,
  model: CatalogModel,
  deadline: number,
  attempts: RouteAttempt[],
): Promise<{ reply: ProviderReply; ms: number }> {
  const provider = deps.providers[model.provider];
  for (let retry = 0; ; retry++) {
    const remaining = deadline - deps.now();
    if (remaining < MIN_ATTEMPT_MS) throw new ProviderFailure("timeout", "the latency budget is spent");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.min(deps.settings.attemptTimeoutMs, remaining));
    const started = deps.now();
    try {
      const request = { model, messages: plan.messages, maxTokens: plan.maxTokens, signal: controller.signal };
      const reply = await provider.complete(
        plan.temperature === undefined ? request : { ...request, temperature: plan.temperature },
      );
      const ms = deps.now() - started;
      deps.state.recordSuccess(model.id, ms);
      attempts.push({ provider: model.provider, model: model.id, outcome: "ok", ms });
      return { reply, ms };
    } catch (error) {
      const failure = recordFailedAttempt(deps, model, error, started, attempts);
      const wait = retryWait(failure, retry, deadline - deps.now());
      if (wait === undefined) throw failure;
      await deps.sleep(wait);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The plan's candidates in order, each with its hold taken: models whose circuit is open or whose
 * worst case the balance cannot cover are skipped (and recorded), and it stops after
 * MAX_MODELS_CALLED models or when the latency budget is spent. `tally.needed` keeps the smallest
 * hold refused, for the 402.
 */
async function* heldCandidates(
  deps: AskDeps,
  plan: AskPlan,
  attempts: RouteAttempt[],
  deadline: number,
  stream: boolean,
  tally: { needed?: number },
): AsyncGenerator<{ model: CatalogModel; held: HeldCall }> {
  let called = 0;
  for (const model of plan.candidates) {
    if (called >= MAX_MODELS_CALLED || deadline - deps.now() < MIN_ATTEMPT_MS) return;
    if (deps.state.circuit(model.id, deps.now()) === "open") {
      attempts.push({ provider: model.provider, model: model.id, outcome: "skipped_circuit_open" });
      continue;
    }
    const reserved = callCost(model, reserveTokensIn(plan, model), plan.maxTokens);
    // A free model still takes a hold (of one micro-credit): every call is tracked the same way.
    const held = await deps.credits.hold(plan.holdKey, Math.max(1, reserved), holdTtlSeconds(deps.settings, stream));
    if (!held) {
      attempts.push({ provider: model.provider, model: model.id, outcome: "skipped_insufficient_credits" });
      tally.needed = Math.min(tally.needed ?? reserved, reserved);
      continue;
    }
    called += 1;
    yield { model, held };
  }
}

/**
 * A non-streaming call: tries the plan's candidates in order. Each gets a hold for its worst-case
 * cost first (a candidate the balance cannot cover is skipped; if none can, 402 before any provider
 * is called), is voided if it fails, and is settled at the actual cost when it answers.
 */
export async function complete(deps: AskDeps, plan: AskPlan): Promise<CallOutcome> {
  const deadline = deps.now() + deps.settings.latencyBudgetMs;
  const attempts: RouteAttempt[] = [];
  const tally: { needed?: number } = {};
  for await (const { model, held } of heldCandidates(deps, plan, attempts, deadline, false, tally)) {
    let answer: { reply: ProviderReply; ms: number };
    try {
      answer = await callModel(deps, plan, model, deadline, attempts);
    } catch (error) {
      await held.void();
      const failure = asFailure(error);
      if (failure.kind === "client_error") throw new ServiceError("invalid_input", failure.message, { attempts });
      continue;
    }
    const usage = usageFrom(answer.reply.usage, plan, model, answer.reply.text, answer.reply.finishReason);
    deps.onAnswered?.({
      model,
      usage,
      costMicro: callCost(model, usage.tokens_in, usage.tokens_out),
      latencyMs: answer.ms,
    });
    const { charged, balance } = await settle(held, model, usage);
    const outcome: CallOutcome = {
      model,
      output: answer.reply.text,
      usage,
      creditsMicro: charged,
      balanceMicro: balance,
      route: { policy: plan.policy, reason: reasonFor(plan, model, attempts), attempts },
      latencyMs: answer.ms,
    };
    if (answer.reply.finishReason) outcome.finishReason = answer.reply.finishReason;
    return outcome;
  }
  throw noAnswer(attempts, tally.needed);
}

/** Settles with `promise`, or aborts the call and fails with `timeout` after `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, controller: AbortController): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ProviderFailure("timeout", "the provider did not send in time"));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function nextPiece(
  iterator: AsyncIterator<StreamPiece>,
  ms: number,
  controller: AbortController,
): Promise<IteratorResult<StreamPiece>> {
  return withTimeout(iterator.next(), ms, controller);
}

/**
 * A streaming call. Falls back between candidates until one has sent its first piece; from then on
 * the answer is committed to that model. The events end with `done`, or with `error` when the
 * provider breaks off, and the caller is charged for what was delivered (settled even when the
 * consumer goes away mid-stream).
 */
export async function openStream(
  deps: AskDeps,
  plan: AskPlan,
): Promise<{ model: CatalogModel; events: AsyncGenerator<AskEvent> }> {
  const deadline = deps.now() + deps.settings.latencyBudgetMs;
  const attempts: RouteAttempt[] = [];
  const tally: { needed?: number } = {};
  for await (const { model, held } of heldCandidates(deps, plan, attempts, deadline, true, tally)) {
    for (let retry = 0; ; retry++) {
      const remaining = deadline - deps.now();
      const controller = new AbortController();
      const started = deps.now();
      try {
        if (remaining < MIN_ATTEMPT_MS) throw new ProviderFailure("timeout", "the latency budget is spent");
        const connectMs = Math.min(deps.settings.attemptTimeoutMs, remaining);
        const request = { model, messages: plan.messages, maxTokens: plan.maxTokens, signal: controller.signal };
        const opening = deps.providers[model.provider].stream(
          plan.temperature === undefined ? request : { ...request, temperature: plan.temperature },
        );
        const iterator = (await withTimeout(opening, connectMs, controller))[Symbol.asyncIterator]();
        const first = await nextPiece(iterator, Math.max(1, connectMs - (deps.now() - started)), controller);
        const ttft = deps.now() - started;
        attempts.push({ provider: model.provider, model: model.id, outcome: "ok", ms: ttft });
        const route: RouteInfo = { policy: plan.policy, reason: reasonFor(plan, model, attempts), attempts };
        return {
          model,
          events: meter(deps, plan, { model, held, iterator, first, controller, started, ttft, route }),
        };
      } catch (error) {
        controller.abort();
        const failure = recordFailedAttempt(deps, model, error, started, attempts);
        const wait = retryWait(failure, retry, deadline - deps.now());
        if (wait !== undefined) {
          await deps.sleep(wait);
          continue;
        }
        await held.void();
        if (failure.kind === "client_error") throw new ServiceError("invalid_input", failure.message, { attempts });
        break;
      }
    }
  }
  throw noAnswer(attempts, tally.needed);
}

interface OpenStream {
  model: CatalogModel;
  held: HeldCall;
  iterator: AsyncIterator<StreamPiece>;
  first: IteratorResult<StreamPiece>;
  controller: AbortController;
  started: number;
  ttft: number;
  route: RouteInfo;
}

async function* meter(deps: AskDeps, plan: AskPlan, open: OpenStream): AsyncGenerator<AskEvent> {
  const { model } = open;
  let delivered = "";
  let reported: ProviderUsage | undefined;
  let finishReason: string | undefined;
  let failure: ProviderFailure | undefined;
  let ended = false;
  const settleOnce = async (complete: boolean) => {
    // A finished stream is charged by the provider's counts; a broken one by what was delivered.
    const usage =
      complete && reported
        ? { tokens_in: reported.tokensIn, tokens_out: reported.tokensOut, estimated: false }
        : {
            tokens_in: reported?.tokensIn ?? estimatedTokensIn(plan, model),
            tokens_out: estimatedTokensOut(plan, delivered, finishReason),
            estimated: true,
          };
    const { charged, balance } = await settle(open.held, model, usage);
    const outcome: CallOutcome = {
      model,
      output: delivered,
      usage,
      creditsMicro: charged,
      balanceMicro: balance,
      route: open.route,
      latencyMs: deps.now() - open.started,
    };
    if (finishReason) outcome.finishReason = finishReason;
    return outcome;
  };
  // Settled exactly once, whichever comes first: the end, a break, the consumer leaving, or the cap.
  let settling: Promise<CallOutcome> | undefined;
  const charge = (complete: boolean) => {
    settling ??= settleOnce(complete);
    return settling;
  };
  // A stream may not outlive its hold: past the cap the provider is stopped and what was delivered
  // is charged, even if the consumer has stopped reading.
  const cap = setTimeout(() => {
    open.controller.abort();
    deps.waitUntil(
      charge(false).catch((error) =>
        logEvent("error", "settle at the stream cap failed", { request_id: deps.call.requestId, error }),
      ),
    );
  }, deps.settings.streamMaxMs);
  try {
    let piece = open.first;
    while (!piece.done) {
      const value = piece.value;
      if ("text" in value) {
        delivered += value.text;
        yield { type: "token", text: value.text };
      } else if ("usage" in value) {
        reported = value.usage;
      } else {
        finishReason = value.finishReason;
      }
      piece = await nextPiece(open.iterator, deps.settings.attemptTimeoutMs, open.controller);
    }
    ended = true;
  } catch (error) {
    failure = asFailure(error);
    ended = true;
  } finally {
    clearTimeout(cap);
    if (!ended) {
      // The consumer went away: stop the provider and charge what was delivered.
      open.controller.abort();
      deps.waitUntil(
        charge(false).catch((error) =>
          logEvent("error", "settle after cancel failed", { request_id: deps.call.requestId, error }),
        ),
      );
    }
  }
  if (failure) {
    deps.state.recordFailure(model.id, failure.kind, deps.now());
    const outcome = await charge(false);
    yield { type: "error", code: "upstream_error", message: `${model.id} broke off: ${failure.message}`, outcome };
    return;
  }
  deps.state.recordSuccess(model.id, deps.now() - open.started, open.ttft);
  yield { type: "done", outcome: await charge(true) };
}
