import type { RoutingPolicy } from "@cognomega/shared";
import { SI_SETTINGS } from "./settings";

/** SI settings read from the worker's vars, validated where they are used (declared in settings.ts). */
export interface SiSettings {
  creditsPerUsd: number;
  defaultPolicy: RoutingPolicy;
  defaultMaxTokens: number;
  latencyBudgetMs: number;
  attemptTimeoutMs: number;
  /** The longest a stream may run; its hold lives at least this long. */
  streamMaxMs: number;
  /** An account's credit allowance in this instance is released after this long unused. */
  allowanceIdleMs: number;
  /** Credits (micro) an allowance asks for; a call whose worst case is larger asks for just that. */
  allowanceMicro: number;
  /** Charges are written to the ledger this long after a call, batched with the calls made meanwhile. */
  settleBatchMs: number;
}

/** The settings in the units SI uses; a bad value is `not_configured`. */
export function siSettings(env: SiEnv): SiSettings {
  const settings = SI_SETTINGS.read(env);
  return {
    creditsPerUsd: settings.CREDITS_PER_USD,
    defaultPolicy: settings.SI_DEFAULT_POLICY,
    defaultMaxTokens: settings.SI_DEFAULT_MAX_TOKENS,
    latencyBudgetMs: settings.SI_LATENCY_BUDGET_MS,
    attemptTimeoutMs: settings.SI_ATTEMPT_TIMEOUT_MS,
    streamMaxMs: settings.SI_STREAM_MAX_MS,
    allowanceIdleMs: settings.SI_ALLOWANCE_IDLE_MS,
    allowanceMicro: settings.SI_ALLOWANCE_CREDITS * 1_000_000,
    settleBatchMs: settings.SI_SETTLE_BATCH_MS,
  };
}
