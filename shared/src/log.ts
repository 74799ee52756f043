/** How much a log line matters: `info` for what happened, `warn` for a degraded path, `error` for a failure. */
export type LogLevel = "info" | "warn" | "error";

/**
 * What a log line carries beside its level and message. `request_id` ties it to the public request;
 * `error` is anything thrown (written as its message, never its stack).
 */
export type LogFields = { request_id?: string; error?: unknown } & Record<string, unknown>;

// Fields that could carry a credential are never written, whatever a caller passes.
const SECRET_FIELDS = new Set([
  "authorization",
  "token",
  "access_token",
  "refresh_token",
  "secret",
  "password",
  "api_key",
  "admin_key",
  "private_key",
  "private_key_pem",
  "jwk",
  "cookie",
]);
// A bearer credential quoted inside a message (a provider echoing a header) is cut out too. Linear:
// one run of token characters after a fixed prefix.
const BEARER = /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi;

function scrub(text: string): string {
  return text.replace(BEARER, "Bearer [redacted]");
}

function errorText(error: unknown): string {
  try {
    return scrub(String(error));
  } catch {
    // An object without a toString (made with a null prototype) still gets a line.
    return "unprintable error";
  }
}

/**
 * Writes one structured log line: a JSON object with `level`, `msg`, then the fields, on stdout
 * (Workers Logs and `wrangler tail` parse it). The one way every worker logs, so lines share their
 * field names and no secret reaches a log.
 */
export function logEvent(level: LogLevel, msg: string, fields: LogFields = {}): void {
  const line: Record<string, unknown> = { level, msg };
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (SECRET_FIELDS.has(name.toLowerCase())) line[name] = "[redacted]";
    else if (name === "error") line.error = errorText(value);
    else line[name] = typeof value === "string" ? scrub(value) : value;
  }
  console.log(JSON.stringify(line));
}
