// Printable, bounded, log-safe: no spaces, quotes or control characters can reach a log line.
const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
// Random bytes drawn 4 KiB at a time: one `getRandomValues` serves 256 ids, where a
// `crypto.randomUUID()` per request was a measurable share of the gateway's own time.
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;

/** A random (version 4) UUID, from the pool. */
export function randomRequestId(): string {
  if (used + 16 > POOL_BYTES) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  let id = "";
  for (let i = 0; i < 16; i++) {
    let byte = pool[used + i] ?? 0;
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) id += "-";
    id += HEX[byte];
  }
  used += 16;
  return id;
}

/** Keeps a well-formed incoming `X-Request-Id`; otherwise makes a new one. */
export function requestIdFor(request: Request): string {
  const incoming = request.headers.get("X-Request-Id");
  return incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomRequestId();
}
