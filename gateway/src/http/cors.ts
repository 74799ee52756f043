/** CORS as docs/architecture.md fixes it: these lists are the contract browsers rely on. */
export const CORS_ALLOW_METHODS = "GET,HEAD,POST,PUT,DELETE,OPTIONS,PATCH";
export const CORS_BASE_ALLOW_HEADERS = [
  "Authorization",
  "Content-Type",
  "X-User-Email",
  "X-Admin-Key",
  "X-Admin-Token",
];
export const CORS_EXPOSE_HEADERS = [
  "Content-Type",
  "Content-Disposition",
  "X-Request-Id",
  "X-Credits-Used",
  "X-Credits-Balance",
  "X-Tokens-In",
  "X-Tokens-Out",
  "X-Provider",
  "X-Model",
  "X-Characters",
  "X-Audio-Seconds",
  "X-Limit-Requests-Limit",
  "X-Limit-Requests-Remaining",
  "X-Limit-Requests-Reset",
  "X-Limit-Credits-Limit",
  "X-Limit-Credits-Remaining",
  "X-Limit-Credits-Reset",
  "RateLimit",
  "RateLimit-Policy",
  "Retry-After",
  // The bulk OFREP answer's version: browser providers send it back as If-None-Match.
  "ETag",
].join(", ");
/** Seconds a browser may reuse a preflight answer (Chromium caps this at 7200). */
export const CORS_MAX_AGE_SECONDS = "600";

// An origin is `scheme://host[:port]` and nothing else (RFC 6454 serialisation).
const ORIGIN_PATTERN = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/;
// A header name is an RFC 9110 token.
const TOKEN_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// One set per list read: the settings object, and so the list, is reused while ALLOWED_ORIGINS is unchanged.
const allowLists = new WeakMap<readonly string[], ReadonlySet<string>>();

/** The allow-list from `ALLOWED_ORIGINS`: its entries that are origins, as a set built once per list. */
export function allowedOrigins(entries: readonly string[]): ReadonlySet<string> {
  let set = allowLists.get(entries);
  if (set === undefined) {
    set = new Set(entries.filter((origin) => ORIGIN_PATTERN.test(origin)));
    allowLists.set(entries, set);
  }
  return set;
}

/** The request's Origin when it is well formed and on the allow-list; `null` and junk never are. */
export function matchOrigin(request: Request, allowList: ReadonlySet<string>): string | undefined {
  const origin = request.headers.get("Origin");
  if (!origin || !ORIGIN_PATTERN.test(origin)) return undefined;
  return allowList.has(origin) ? origin : undefined;
}

/** Adds the CORS headers an actual (non-preflight) answer carries. */
export function applyCors(headers: Headers, origin: string | undefined): void {
  headers.append("Vary", "Origin");
  if (!origin) return;
  headers.set("Access-Control-Allow-Origin", origin);
  headers.set("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/**
 * The 204 answer to a preflight. A disallowed origin gets the same 204 with no
 * `Access-Control-Allow-*` header at all, so the browser blocks the real request.
 */
export function preflight(request: Request, origin: string | undefined): Response {
  const headers = new Headers({ Vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" });
  if (origin) {
    const requested = (request.headers.get("Access-Control-Request-Headers") ?? "")
      .split(",")
      .map((name) => name.trim())
      .filter((name) => name.length > 0 && name.length <= 64 && TOKEN_PATTERN.test(name));
    const allowHeaders = [...CORS_BASE_ALLOW_HEADERS];
    for (const name of requested) {
      if (!allowHeaders.some((known) => known.toLowerCase() === name.toLowerCase())) allowHeaders.push(name);
    }
    headers.set("Access-Control-Allow-Origin", origin);
    headers.set("Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
    headers.set("Access-Control-Allow-Headers", allowHeaders.join(", "));
    headers.set("Access-Control-Max-Age", CORS_MAX_AGE_SECONDS);
  }
  return new Response(null, { status: 204, headers });
}
