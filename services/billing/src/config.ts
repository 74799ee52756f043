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

export function tokenSettings(env: Env): TokenSettings {
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
export function isDevelopment(env: Env): boolean {
  return env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";
}
