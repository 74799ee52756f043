import { ERROR_STATUS, ERROR_TITLE, type ErrorCode, type ErrorDetails } from "@cognomega/shared";

/** Base of the `type` URI of every problem document; `<base><code>` names the error. */
export const PROBLEM_TYPE_BASE = "https://api.cognomega.com/problems/";

// Detail members a ServiceError may not overwrite: the RFC 9457 core is the gateway's.
const RESERVED = new Set(["type", "title", "status", "detail", "code", "request_id", "instance"]);

/**
 * An RFC 9457 `application/problem+json` answer. `details` become extension members (for example
 * `issues` with field paths, or `retry_after`).
 */
export function problem(
  code: ErrorCode,
  detail: string,
  requestId: string,
  details?: ErrorDetails,
  headers?: HeadersInit,
): Response {
  const status = ERROR_STATUS[code];
  const body: Record<string, unknown> = {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: ERROR_TITLE[code],
    status,
    detail,
    code,
    request_id: requestId,
  };
  if (details) {
    for (const [key, value] of Object.entries(details)) if (!RESERVED.has(key)) body[key] = value;
  }
  const response = new Response(JSON.stringify(body), { status, headers });
  response.headers.set("Content-Type", "application/problem+json");
  return response;
}
