/**
 * What every worker that calls an AI provider shares: how a call failed, what a provider's
 * `Retry-After` asks for, backoff, and the per-model circuit breaker. SI (chat) and voice (speech)
 * route and fall back by the same rules.
 */

/**
 * How a provider call failed, which decides what the router does next:
 * - `rate_limited`, `server_error`, `timeout`, `connection_error`: retry (with backoff), then fall back;
 * - `rejected`: this provider will not serve this call (bad key, no quota, model gone): fall back;
 * - `client_error`: the request itself is bad (e.g. too long): no other provider will do better;
 * - `unavailable`: the provider is not usable here (no key, no binding, offline).
 */
export type FailureKind =
  | "rate_limited"
  | "server_error"
  | "timeout"
  | "connection_error"
  | "rejected"
  | "client_error"
  | "unavailable";

/** A failed provider call. Stays inside the worker that made it: never crosses RPC. */
export class ProviderFailure extends Error {
  override readonly name = "ProviderFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** The provider's own stable error code, when it sent one (safe to show a client). */
    readonly providerCode?: string,
  ) {
    super(message);
  }
}

/** Milliseconds from `retry-after-ms`, or `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: Headers): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (Number.isFinite(ms) && ms >= 0 && headers.has("retry-after-ms")) return ms;
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * A failure of the Workers AI binding: it throws plain Errors whose message starts with an internal
 * code (e.g. `3040: Capacity temporarily exceeded`), and no HTTP status.
 */
export function workersAiFailure(error: unknown, signal: AbortSignal): ProviderFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (signal.aborted) return new ProviderFailure("timeout", "workers-ai did not answer in time");
  if (/needs to be run remotely|not logged in|remote/i.test(message)) {
    return new ProviderFailure("unavailable", "workers-ai is not reachable here (the AI binding has no local mode)");
  }
  const code = Number(/^(\d{4})\b/.exec(message)?.[1]);
  switch (code) {
    case 3040: // out of capacity: retry
      return new ProviderFailure("rate_limited", `workers-ai: ${message}`, 429);
    case 3036: // the account's daily free allocation is used up: waiting will not help today
    case 3023:
    case 5016:
    case 5007:
    case 3042:
      return new ProviderFailure("rejected", `workers-ai: ${message}`);
    case 3003:
    case 3006:
      return new ProviderFailure("client_error", `workers-ai: ${message}`, 400);
    case 3007:
    case 3008:
      return new ProviderFailure("timeout", `workers-ai: ${message}`, 408);
    default:
      return new ProviderFailure("server_error", `workers-ai: ${message.slice(0, 300)}`);
  }
}

/** Jittered exponential backoff: base·2^attempt, scaled by a random factor in [0.5, 1). */
export function backoffMs(attempt: number, baseMs = 150): number {
  return Math.round(baseMs * 2 ** attempt * (0.5 + Math.random() * 0.5));
}

/** The most a call waits on a provider's Retry-After before falling back instead. */
export const MAX_RETRY_AFTER_WAIT_MS = 5_000;

/** Consecutive failures that open a model's circuit, and how long it then stays open. */
export const CIRCUIT_THRESHOLD = 3;
export const CIRCUIT_COOLDOWN_MS = 30_000;

/** A circuit's state: closed (use it), open (skip it), half-open (one call may test it). */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * One circuit breaker per model id, per isolate (each learns from its own traffic, so no write
 * happens per call). {@link CIRCUIT_THRESHOLD} consecutive failures open it for
 * {@link CIRCUIT_COOLDOWN_MS}; then one call goes through, and a failure re-opens it.
 */
export class CircuitBreakers {
  private readonly circuits = new Map<string, { failures: number; openUntil: number }>();

  private entry(id: string): { failures: number; openUntil: number } {
    let entry = this.circuits.get(id);
    if (!entry) {
      entry = { failures: 0, openUntil: 0 };
      this.circuits.set(id, entry);
    }
    return entry;
  }

  /** Consecutive failures since the last success. */
  failures(id: string): number {
    return this.circuits.get(id)?.failures ?? 0;
  }

  recordSuccess(id: string): void {
    const entry = this.entry(id);
    entry.failures = 0;
    entry.openUntil = 0;
  }

  /** Counts a failure; `client_error` says nothing about the provider and is not counted. */
  recordFailure(id: string, kind: FailureKind, now: number): void {
    if (kind === "client_error") return;
    const entry = this.entry(id);
    entry.failures += 1;
    if (entry.failures >= CIRCUIT_THRESHOLD) entry.openUntil = now + CIRCUIT_COOLDOWN_MS;
  }

  state(id: string, now: number): CircuitState {
    const entry = this.circuits.get(id);
    if (!entry || entry.failures < CIRCUIT_THRESHOLD) return "closed";
    return now < entry.openUntil ? "open" : "half-open";
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.circuits.clear();
  }
}
