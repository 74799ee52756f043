import { JOBS_SETTINGS } from "./settings";

export interface JobSettings {
  /** How long a finished job is kept. */
  ttlSeconds: number;
  /** How long past its `run_at` an unfinished job is kept. */
  pendingTtlMs: number;
  backoffBaseMs: number;
  leaseMs: number;
  runLimit: number;
  /** Jobs one pass runs at the same time. */
  runConcurrency: number;
  /** Unfinished jobs one tenant may have at once. */
  maxPending: number;
}

/** The settings in the units the runner uses; a bad value is `not_configured`. */
export function jobSettings(env: JobsEnv): JobSettings {
  const settings = JOBS_SETTINGS.read(env);
  return {
    ttlSeconds: settings.JOBS_TTL_DAYS * 86_400,
    backoffBaseMs: settings.JOBS_BACKOFF_BASE_SECONDS * 1000,
    leaseMs: settings.JOBS_LEASE_SECONDS * 1000,
    runLimit: settings.JOBS_RUN_LIMIT,
    pendingTtlMs: settings.JOBS_PENDING_TTL_DAYS * 86_400_000,
    runConcurrency: settings.JOBS_RUN_CONCURRENCY,
    maxPending: settings.JOBS_MAX_PENDING,
  };
}

/** The wait before attempt `attempt + 1`: base · 2^(attempt − 1), at most six hours. */
export function backoffMs(settings: JobSettings, attempt: number): number {
  return Math.min(settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1), 6 * 3_600_000);
}
