import { ANALYTICS_SETTINGS } from "./settings";

/** Rollup settings read from the worker's vars (docs/configuration.md). */
export interface RollupSettings {
  /** Hours before now rolled again on every run, so late events are counted. */
  lookbackHours: number;
  /** Closed hours before now the scheduled run checks for having been rolled (its catch-up). */
  catchUpHours: number;
  /** Closed hours one scheduled run rolls at most beyond the lookback (oldest first). */
  catchUpPerRun: number;
  /**
   * Hours older than this are never recomputed: billing keeps events USAGE_TTL_DAYS (35), so an
   * older hour may have lost some, and recomputing it would shrink rows that were right.
   */
  maxAgeDays: number;
}

/** The settings, or `not_configured` for a value out of range. */
export function rollupSettings(env: {
  ROLLUP_LOOKBACK_HOURS?: string;
  ROLLUP_CATCHUP_HOURS?: string;
  ROLLUP_MAX_AGE_DAYS?: string;
}): RollupSettings {
  const settings = ANALYTICS_SETTINGS.read(env);
  return {
    lookbackHours: settings.ROLLUP_LOOKBACK_HOURS,
    catchUpHours: settings.ROLLUP_CATCHUP_HOURS,
    catchUpPerRun: 24,
    maxAgeDays: settings.ROLLUP_MAX_AGE_DAYS,
  };
}
