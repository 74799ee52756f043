import { declareSettings, setting } from "@cognomega/shared";

/** The analytics worker's settings (docs/configuration.md is generated from this declaration). */
export const ANALYTICS_SETTINGS = declareSettings("analytics", {
  ROLLUP_LOOKBACK_HOURS: setting.integer({
    default: 3,
    min: 0,
    max: 72,
    unit: "hours",
    meaning: "Hours before now rolled again on every run, so late events are counted.",
  }),
  ROLLUP_CATCHUP_HOURS: setting.integer({
    default: 72,
    min: 1,
    max: 720,
    unit: "hours",
    meaning: "Closed hours before now the scheduled run checks for having been rolled (its catch-up).",
  }),
  ROLLUP_MAX_AGE_DAYS: setting.integer({
    default: 30,
    min: 1,
    // Billing keeps usage events USAGE_TTL_DAYS (35): an older hour may have lost some.
    max: 34,
    unit: "days",
    meaning: "Hours older than this are never recomputed, so rows stay right after usage events expire.",
  }),
});
