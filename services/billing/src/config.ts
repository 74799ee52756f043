import { BILLING_SETTINGS } from "./settings";

/** Seconds a verifier may cache the JWKS (`Cache-Control: max-age` on /.well-known/jwks.json). */
export const JWKS_MAX_AGE_SECONDS = 300;

/** Token settings read from the worker's vars. */
export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Issuer, audience and lifetime of guest tokens; a bad value is `not_configured`. */
export function tokenSettings(env: BillingEnv): TokenSettings {
  const settings = BILLING_SETTINGS.read(env);
  return { issuer: settings.JWT_ISSUER, audience: settings.JWT_AUDIENCE, ttlSeconds: settings.GUEST_TOKEN_TTL_SECONDS };
}

/** Limits a tenant has until an admin sets its own (`DEFAULT_RPM`, `DEFAULT_DAILY_CREDITS`). */
export interface DefaultLimits {
  rpm: number;
  dailyMicro: number;
}

export function defaultLimits(env: BillingEnv): DefaultLimits {
  const settings = BILLING_SETTINGS.read(env);
  return { rpm: settings.DEFAULT_RPM, dailyMicro: settings.DEFAULT_DAILY_CREDITS * 1_000_000 };
}

/** Starter credits for a new guest account (`GUEST_CREDITS`), in micro-credits. */
export function guestCreditsMicro(env: BillingEnv): number {
  return BILLING_SETTINGS.read(env).GUEST_CREDITS * 1_000_000;
}

/** How long a usage event is kept in KV (`USAGE_TTL_DAYS`), in seconds. */
export function usageTtlSeconds(env: BillingEnv): number {
  return BILLING_SETTINGS.read(env).USAGE_TTL_DAYS * 86_400;
}

/** Guest tokens one client address may get per minute (`GUEST_TOKENS_PER_MINUTE`). */
export function guestTokensPerMinute(env: BillingEnv): number {
  return BILLING_SETTINGS.read(env).GUEST_TOKENS_PER_MINUTE;
}

/** Starter grants (new guest tokens) per minute across all addresses (`GUEST_GRANTS_PER_MINUTE`). */
export function guestGrantsPerMinute(env: BillingEnv): number {
  return BILLING_SETTINGS.read(env).GUEST_GRANTS_PER_MINUTE;
}
