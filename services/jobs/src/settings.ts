import { declareSettings, setting } from "@cognomega/shared";

/** The jobs worker's settings (docs/configuration.md is generated from this declaration). */
export const JOBS_SETTINGS = declareSettings("jobs", {
  JOBS_TTL_DAYS: setting.integer({
    default: 14,
    min: 1,
    max: 3_650,
    unit: "days",
    meaning: "How long a finished job (and its result) is kept.",
  }),
  JOBS_BACKOFF_BASE_SECONDS: setting.integer({
    default: 30,
    min: 1,
    max: 86_400,
    unit: "seconds",
    meaning: "The wait before a failed job's first retry; it doubles per attempt, at most six hours.",
  }),
  JOBS_LEASE_SECONDS: setting.integer({
    default: 120,
    min: 1,
    max: 86_400,
    unit: "seconds",
    meaning: "How long a runner holds a job before another pass may take it over.",
  }),
  JOBS_RUN_LIMIT: setting.integer({
    default: 25,
    min: 1,
    max: 10_000,
    meaning: "Most jobs one pass runs.",
  }),
  JOBS_RUN_CONCURRENCY: setting.integer({
    default: 4,
    min: 1,
    max: 1_000,
    meaning: "Jobs one pass runs at the same time.",
  }),
  JOBS_MAX_PENDING: setting.integer({
    default: 100,
    min: 1,
    max: 1_000_000,
    meaning: "Unfinished jobs one tenant may have at once (429 over it).",
  }),
  JOBS_PENDING_TTL_DAYS: setting.integer({
    default: 7,
    min: 1,
    max: 3_650,
    unit: "days",
    meaning: "How long past its run_at an unfinished job is kept.",
  }),
});
