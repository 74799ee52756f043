import { ServiceError } from "@cognomega/shared";

export interface JobSettings {
  ttlSeconds: number;
  backoffBaseMs: number;
  leaseMs: number;
  runLimit: number;
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
  };
}

/** The wait before attempt `attempt + 1`: base · 2^(attempt − 1), at most six hours. */
export function backoffMs(settings: JobSettings, attempt: number): number {
  return Math.min(settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1), 6 * 3_600_000);
}
