// Printable, bounded, log-safe: no spaces, quotes or control characters can reach a log line.
const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

/** Keeps a well-formed incoming `X-Request-Id`; otherwise makes a new one. */
export function requestIdFor(request: Request): string {
  const incoming = request.headers.get("X-Request-Id");
  return incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID();
}
