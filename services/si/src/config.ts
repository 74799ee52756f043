import {
  integerSetting as integer,
  parseCreditsPerUsd,
  ROUTING_POLICIES,
  type RoutingPolicy,
  ServiceError,
} from "@cognomega/shared";

/** SI settings read from the worker's vars, validated where they are used. */
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

export function siSettings(env: SiEnv): SiSettings {
  const policy = (env.SI_DEFAULT_POLICY ?? "balanced") as RoutingPolicy;
  if (!ROUTING_POLICIES.includes(policy))
    throw new ServiceError("not_configured", "SI_DEFAULT_POLICY must be cheapest, fastest or balanced");
  const creditsPerUsd = parseCreditsPerUsd(env.CREDITS_PER_USD);
  if (creditsPerUsd === undefined)
    throw new ServiceError("not_configured", "CREDITS_PER_USD must be an integer from 1 to 1000000");
  return {
    creditsPerUsd,
    defaultPolicy: policy,
    defaultMaxTokens: integer(env.SI_DEFAULT_MAX_TOKENS, 512, "SI_DEFAULT_MAX_TOKENS", 1, 16_384),
    latencyBudgetMs: integer(env.SI_LATENCY_BUDGET_MS, 30_000, "SI_LATENCY_BUDGET_MS", 100, 300_000),
    attemptTimeoutMs: integer(env.SI_ATTEMPT_TIMEOUT_MS, 20_000, "SI_ATTEMPT_TIMEOUT_MS", 50, 300_000),
    streamMaxMs: integer(env.SI_STREAM_MAX_MS, 600_000, "SI_STREAM_MAX_MS", 1_000, 3_000_000),
    allowanceIdleMs: integer(env.SI_ALLOWANCE_IDLE_MS, 2_000, "SI_ALLOWANCE_IDLE_MS", 0, 8_000),
    allowanceMicro: integer(env.SI_ALLOWANCE_CREDITS, 1, "SI_ALLOWANCE_CREDITS", 0, 1_000) * 1_000_000,
    settleBatchMs: integer(env.SI_SETTLE_BATCH_MS, 20, "SI_SETTLE_BATCH_MS", 0, 1_000),
  };
}
