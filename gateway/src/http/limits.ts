import type { LimitState } from "@cognomega/shared";

/**
 * What is left of the caller's limits, on every answer to an authenticated user: `X-Limit-*`
 * for both limits, and the IETF `RateLimit` / `RateLimit-Policy` fields for requests per minute.
 */
export function applyLimitHeaders(headers: Headers, limits: LimitState): void {
  headers.set("X-Limit-Requests-Limit", String(limits.rpm.limit));
  headers.set("X-Limit-Requests-Remaining", String(limits.rpm.remaining));
  headers.set("X-Limit-Requests-Reset", String(limits.rpm.reset_seconds));
  headers.set("X-Limit-Credits-Limit", String(limits.daily_credits.limit));
  headers.set("X-Limit-Credits-Remaining", String(limits.daily_credits.remaining));
  headers.set("X-Limit-Credits-Reset", String(limits.daily_credits.reset_seconds));
  headers.set("RateLimit-Policy", `"rpm";q=${limits.rpm.limit};w=60`);
  headers.set("RateLimit", `"rpm";r=${limits.rpm.remaining};t=${limits.rpm.reset_seconds}`);
}
