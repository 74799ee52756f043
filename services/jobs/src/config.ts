import { ServiceError } from "@cognomega/shared";

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

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new ServiceError("not_configured", `${name} must be a positive integer`);
  return parsed;
}

export function jobSettings(env: JobsEnv): JobSettings {
  return {
    ttlSeconds: positive(env.JOBS_TTL_DAYS, 14, "JOBS_TTL_DAYS") * 86_400,
    backoffBaseMs: positive(env.JOBS_BACKOFF_BASE_SECONDS, 30, "JOBS_BACKOFF_BASE_SECONDS") * 1000,
    leaseMs: positive(env.JOBS_LEASE_SECONDS, 120, "JOBS_LEASE_SECONDS") * 1000,
    runLimit: positive(env.JOBS_RUN_LIMIT, 25, "JOBS_RUN_LIMIT"),
    pendingTtlMs: positive(env.JOBS_PENDING_TTL_DAYS, 7, "JOBS_PENDING_TTL_DAYS") * 86_400_000,
    runConcurrency: positive(env.JOBS_RUN_CONCURRENCY, 4, "JOBS_RUN_CONCURRENCY"),
    maxPending: positive(env.JOBS_MAX_PENDING, 100, "JOBS_MAX_PENDING"),
  };
}

/** The wait before attempt `attempt + 1`: base · 2^(attempt − 1), at most six hours. */
export function backoffMs(settings: JobSettings, attempt: number): number {
  return Math.min(settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1), 6 * 3_600_000);
}
