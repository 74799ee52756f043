import { ServiceError } from "@cognomega/shared";

/** Seconds a verifier may cache the JWKS (`Cache-Control: max-age` on /.well-known/jwks.json). */
export const JWKS_MAX_AGE_SECONDS = 300;

const MIN_TOKEN_TTL_SECONDS = 60;
const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

/** Token settings read from the worker's vars, validated once per call site. */
export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export function tokenSettings(env: BillingEnv): TokenSettings {
  const ttl = env.GUEST_TOKEN_TTL_SECONDS ?? "3600";
  const ttlSeconds = Number(ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TOKEN_TTL_SECONDS || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new ServiceError(
      "not_configured",
      `GUEST_TOKEN_TTL_SECONDS must be an integer from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS}`,
    );
  }
  const issuer = env.JWT_ISSUER?.trim() || "https://api.cognomega.com";
  const audience = env.JWT_AUDIENCE?.trim() || "cognomega";
  return { issuer, audience, ttlSeconds };
}

/** True where a missing signing secret may be replaced by a generated development key. */
export function isDevelopment(env: BillingEnv): boolean {
  return env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";
}

/** Limits a tenant has until an admin sets its own (`DEFAULT_RPM`, `DEFAULT_DAILY_CREDITS`). */
export interface DefaultLimits {
  rpm: number;
  dailyMicro: number;
}

function positiveInteger(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new ServiceError("not_configured", `${name} must be a positive integer`);
  return parsed;
}

export function defaultLimits(env: BillingEnv): DefaultLimits {
  return {
    rpm: positiveInteger(env.DEFAULT_RPM, 120, "DEFAULT_RPM"),
    dailyMicro: positiveInteger(env.DEFAULT_DAILY_CREDITS, 100, "DEFAULT_DAILY_CREDITS") * 1_000_000,
  };
}

/** Starter credits for a new guest account (`GUEST_CREDITS`, default 5), in micro-credits. */
export function guestCreditsMicro(env: BillingEnv): number {
  const value = env.GUEST_CREDITS ?? "5";
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 1_000_000) {
    throw new ServiceError("not_configured", "GUEST_CREDITS must be a whole number of credits from 0 to 1000000");
  }
  return parsed * 1_000_000;
}

/** Days a usage event is kept in KV (`USAGE_TTL_DAYS`, default 35). */
export function usageTtlSeconds(env: BillingEnv): number {
  return positiveInteger(env.USAGE_TTL_DAYS, 35, "USAGE_TTL_DAYS") * 86_400;
}

/** Guest tokens one client address may get per minute (`GUEST_TOKENS_PER_MINUTE`, default 10). */
export function guestTokensPerMinute(env: BillingEnv): number {
  return positiveInteger(env.GUEST_TOKENS_PER_MINUTE, 10, "GUEST_TOKENS_PER_MINUTE");
}

/** Starter grants (new guest tokens) per minute across all addresses (`GUEST_GRANTS_PER_MINUTE`, default 600). */
export function guestGrantsPerMinute(env: BillingEnv): number {
  return positiveInteger(env.GUEST_GRANTS_PER_MINUTE, 600, "GUEST_GRANTS_PER_MINUTE");
}
