import { creditsToMicro, MAX_CREDITS, MICRO_PER_CREDIT, ServiceError } from "@cognomega/shared";

/** The longest latency threshold accepted: one hour. Anything larger is surely a typo. */
const MAX_LATENCY_THRESHOLD_MS = 3_600_000;

/** When a served call deserves advice, read from the worker's vars. */
export interface Thresholds {
  /** Cost advice when the served call's cost is strictly above this, in micro-credits. */
  costMicro: number;
  /** Latency advice when the served call took strictly longer than this, in milliseconds. */
  latencyMs: number;
}

/** The defaults wrangler.jsonc declares, used only when a var is absent altogether. */
export const DEFAULT_THRESHOLDS: Thresholds = { costMicro: 10_000, latencyMs: 4_000 };

/**
 * Reads `ADVISOR_COST_CREDITS` and `ADVISOR_LATENCY_MS`. An absent var takes its default; a present
 * but unreadable one (blank included) is a deployment mistake and fails as `not_configured` rather
 * than silently advising on every call or on none.
 */
export function thresholds(env: AdvisorEnv): Thresholds {
  return {
    costMicro: costThresholdMicro(env.ADVISOR_COST_CREDITS),
    latencyMs: latencyThresholdMs(env.ADVISOR_LATENCY_MS),
  };
}

function costThresholdMicro(value: string | undefined): number {
  if (value === undefined) return DEFAULT_THRESHOLDS.costMicro;
  // creditsToMicro reads the decimal text exactly, so "0.01" is 10 000 micro-credits, not 9 999.
  const micro = value.trim() === "" ? undefined : creditsToMicro(value);
  if (micro === undefined || micro < 0 || micro > MAX_CREDITS * MICRO_PER_CREDIT) {
    throw new ServiceError(
      "not_configured",
      `ADVISOR_COST_CREDITS must be a number of credits from 0 to ${MAX_CREDITS} with at most 6 decimals`,
    );
  }
  return micro;
}

function latencyThresholdMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_THRESHOLDS.latencyMs;
  const ms = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_LATENCY_THRESHOLD_MS) {
    throw new ServiceError(
      "not_configured",
      `ADVISOR_LATENCY_MS must be a whole number of milliseconds from 0 to ${MAX_LATENCY_THRESHOLD_MS}`,
    );
  }
  return ms;
}
