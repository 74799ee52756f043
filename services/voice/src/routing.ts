import {
  backoffMs,
  CircuitBreakers,
  MAX_RETRY_AFTER_WAIT_MS,
  ProviderFailure,
  ServiceError,
  type VoiceCatalogEntry,
  type VoiceProviderId,
} from "@cognomega/shared";
import type { VoiceProvider } from "./providers/types";

/** One circuit per voice model id, per isolate (shared by speech and transcription). */
export const voiceCircuits = new CircuitBreakers();

/** Below this much budget left, no new attempt starts. */
const MIN_ATTEMPT_MS = 50;

/** What became of one try of one model. */
export type VoiceAttemptOutcome =
  | "ok"
  | "rate_limited"
  | "server_error"
  | "timeout"
  | "connection_error"
  | "rejected"
  | "client_error"
  | "skipped_circuit_open"
  | "skipped_unconfigured";

/** One try of one model, as the answer's details report it (never the provider's own message). */
export interface VoiceAttempt {
  provider: VoiceProviderId;
  model: string;
  outcome: VoiceAttemptOutcome;
  status?: number;
  ms?: number;
  /** The provider's stable error code, when it sent one. */
  provider_code?: string;
}

/**
 * Anything the router can try: a catalog model itself (transcription), or a model with what else the
 * call needs (speech: `{ model, voice }`).
 */
export type RoutedCandidate = VoiceCatalogEntry | { model: VoiceCatalogEntry };

/** The catalog model a candidate names. */
export function candidateModel(candidate: RoutedCandidate): VoiceCatalogEntry {
  // A catalog entry's own `model` is the provider's model name, a string.
  return typeof candidate.model === "string" ? (candidate as VoiceCatalogEntry) : candidate.model;
}

/** What served the call: the value, the candidate and model that produced it, and every attempt. */
export interface Routed<C extends RoutedCandidate, T> {
  value: T;
  candidate: C;
  model: VoiceCatalogEntry;
  attempts: VoiceAttempt[];
}

/** Time limits of one routed call. */
export interface FallbackOptions {
  /** Total time across every attempt and wait. */
  budgetMs: number;
  /** The most one attempt may take until `run` resolves (for speech: until the headers are in). */
  attemptTimeoutMs: number;
  /** The caller's own abort (a client gone): it also ends a stream after `run` resolved. */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE = new Set(["rate_limited", "server_error", "timeout", "connection_error"]);

function isProviderFailure(error: unknown): error is ProviderFailure {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "ProviderFailure";
}

function attemptOf(model: VoiceCatalogEntry, failure: ProviderFailure, ms: number): VoiceAttempt {
  const attempt: VoiceAttempt = {
    provider: model.provider,
    model: model.id,
    outcome: failure.kind === "unavailable" ? "skipped_unconfigured" : failure.kind,
    ms,
  };
  if (failure.status !== undefined) attempt.status = failure.status;
  if (failure.providerCode !== undefined) attempt.provider_code = failure.providerCode;
  return attempt;
}

/**
 * One attempt: its own AbortSignal, fired by a timer bounding the time until `run` resolves, or by
 * the caller. The timer is cleared once `run` resolves, so a stream it returned is never cut by it.
 */
async function attempt<C extends RoutedCandidate, T>(
  candidate: C,
  provider: VoiceProvider,
  run: (candidate: C, provider: VoiceProvider, signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  callerSignal: AbortSignal | undefined,
): Promise<T> {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(callerSignal?.reason);
  if (callerSignal?.aborted) controller.abort(callerSignal.reason);
  else callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | null = null;
  // A provider that ignores its signal still cannot hold the attempt past its time.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ProviderFailure("timeout", `${provider.id} did not answer in time`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(candidate, provider, controller.signal), timedOut]);
  } catch (error) {
    callerSignal?.removeEventListener("abort", onCallerAbort);
    throw error;
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

function noAnswer(attempts: VoiceAttempt[], last: ProviderFailure | undefined): ServiceError {
  const called = attempts.filter((a) => a.outcome !== "skipped_unconfigured" && a.outcome !== "skipped_circuit_open");
  const circuitOpen = attempts.some((a) => a.outcome === "skipped_circuit_open");
  if (called.length === 0 && !circuitOpen)
    return new ServiceError(
      "not_configured",
      "no speech provider is configured: set CARTESIA_API_KEY, or deploy with the AI binding",
      { attempts },
    );
  const codes = [...new Set(attempts.flatMap((a) => (a.provider_code ? [a.provider_code] : [])))];
  const details: Record<string, unknown> = { attempts };
  if (codes.length > 0) details.provider_codes = codes;
  const transient = last !== undefined && ["rate_limited", "timeout", "connection_error"].includes(last.kind);
  if (transient || circuitOpen || last === undefined) {
    if (last?.retryAfterMs !== undefined) details.retry_after = Math.max(1, Math.ceil(last.retryAfterMs / 1000));
    return new ServiceError("upstream_unavailable", "no speech provider could answer now; see attempts", details);
  }
  return new ServiceError("upstream_error", "the speech providers failed; see attempts", details);
}

/**
 * Tries `candidates` in order until one answers, by SI's rules: unconfigured providers and open
 * circuits are skipped (a half-open one lets one call through); a rate limit, server error, timeout
 * or connection error counts against the model's circuit and is retried once on the same model
 * after `max(backoff, Retry-After)` when that wait is at most {@link MAX_RETRY_AFTER_WAIT_MS} and
 * fits the budget, else the next candidate is tried; a rejection goes to the next candidate; a
 * client error stops at once (400 `invalid_input` with the provider's stable code only).
 *
 * When nothing answered: 503 `not_configured` if no candidate's provider is configured, 503
 * `upstream_unavailable` (with `retry_after` when known) after a rate limit, timeout or connection
 * error or with circuits open, else 502 `upstream_error`. Details carry the attempts, never the
 * providers' messages.
 */
export async function withFallback<C extends RoutedCandidate, T>(
  candidates: readonly C[],
  providers: Record<VoiceProviderId, VoiceProvider>,
  run: (candidate: C, provider: VoiceProvider, signal: AbortSignal) => Promise<T>,
  options: FallbackOptions,
): Promise<Routed<C, T>> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + options.budgetMs;
  const attempts: VoiceAttempt[] = [];
  let last: ProviderFailure | undefined;
  nextCandidate: for (const candidate of candidates) {
    // A caller who has gone needs no further attempts.
    if (options.signal?.aborted) break;
    const model = candidateModel(candidate);
    const provider = providers[model.provider];
    if (!provider.configured().ok) {
      attempts.push({ provider: model.provider, model: model.id, outcome: "skipped_unconfigured" });
      continue;
    }
    if (voiceCircuits.state(model.id, now()) === "open") {
      attempts.push({ provider: model.provider, model: model.id, outcome: "skipped_circuit_open" });
      continue;
    }
    for (let retry = 0; ; retry++) {
      const remaining = deadline - now();
      if (remaining < MIN_ATTEMPT_MS) break nextCandidate;
      const started = now();
      try {
        const value = await attempt(
          candidate,
          provider,
          run,
          Math.min(options.attemptTimeoutMs, remaining),
          options.signal,
        );
        voiceCircuits.recordSuccess(model.id);
        attempts.push({ provider: model.provider, model: model.id, outcome: "ok", ms: now() - started });
        return { value, candidate, model, attempts };
      } catch (error) {
        if (!isProviderFailure(error)) throw error;
        attempts.push(attemptOf(model, error, now() - started));
        if (error.kind === "unavailable") continue nextCandidate;
        if (error.kind === "client_error") {
          const details: Record<string, unknown> = { attempts };
          if (error.providerCode !== undefined) details.provider_code = error.providerCode;
          throw new ServiceError(
            "invalid_input",
            `${model.provider} refused the request: ${error.providerCode ?? "the request is not valid for this model"}`,
            details,
          );
        }
        last = error;
        voiceCircuits.recordFailure(model.id, error.kind, now());
        if (!RETRYABLE.has(error.kind) || retry >= 1 || voiceCircuits.state(model.id, now()) === "open") break;
        const wait = Math.max(backoffMs(0), error.retryAfterMs ?? 0);
        if (wait > MAX_RETRY_AFTER_WAIT_MS || now() + wait + MIN_ATTEMPT_MS > deadline) break;
        await sleep(wait);
      }
    }
  }
  if (options.signal?.aborted) throw new ServiceError("upstream_unavailable", "the call was cancelled", { attempts });
  throw noAnswer(attempts, last);
}
