import { creditsToMicro } from "@cognomega/shared";
import { ADVISOR_SETTINGS } from "./settings";

/** When a served call deserves advice, read from the worker's vars. */
export interface Thresholds {
  /** Cost advice when the served call's cost is strictly above this, in micro-credits. */
  costMicro: number;
  /** Latency advice when the served call took strictly longer than this, in milliseconds. */
  latencyMs: number;
}

/**
 * Reads `ADVISOR_COST_CREDITS` and `ADVISOR_LATENCY_MS` (unset or blank: the declared default); an
 * unreadable one is a deployment mistake and fails as `not_configured` rather than silently
 * advising on every call or on none.
 */
export function thresholds(env: AdvisorEnv): Thresholds {
  const settings = ADVISOR_SETTINGS.read(env);
  // The declaration checked the text (at most 6 decimals, within MAX_CREDITS), so this is exact.
  return { costMicro: creditsToMicro(settings.ADVISOR_COST_CREDITS) ?? 0, latencyMs: settings.ADVISOR_LATENCY_MS };
}
