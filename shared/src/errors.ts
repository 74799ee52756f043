/**
 * The one closed list of error codes every Cognomega worker may throw, with the HTTP status the
 * gateway answers for each. Adding a code is a contract change: the gateway, the README and the
 * OpenAPI document all follow this table.
 */
export const ERROR_STATUS = {
  invalid_input: 400,
  malformed_json: 400,
  unauthenticated: 401,
  insufficient_credits: 402,
  forbidden: 403,
  quota_exceeded: 403,
  feature_disabled: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  length_required: 411,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_mismatch: 422,
  precondition_required: 428,
  rate_limited: 429,
  internal: 500,
  upstream_error: 502,
  upstream_unavailable: 503,
  not_configured: 503,
} as const satisfies Record<string, number>;

/** A stable, machine-readable error code. Clients switch on this, never on `title` or `detail`. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Short human titles for each code (RFC 9457 `title`). */
export const ERROR_TITLE: Record<ErrorCode, string> = {
  invalid_input: "Invalid input",
  malformed_json: "Malformed JSON",
  unauthenticated: "Authentication required",
  insufficient_credits: "Insufficient credits",
  forbidden: "Forbidden",
  quota_exceeded: "Quota exceeded",
  feature_disabled: "Feature disabled",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  conflict: "Conflict",
  length_required: "Length required",
  precondition_failed: "Precondition failed",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  idempotency_mismatch: "Idempotency key reused with a different request",
  precondition_required: "Precondition required",
  rate_limited: "Rate limited",
  internal: "Internal error",
  upstream_error: "Upstream error",
  upstream_unavailable: "Upstream unavailable",
  not_configured: "Not configured",
};

/** Extra, JSON-safe facts an error carries to the client (field paths, retry hints, ...). */
export type ErrorDetails = Record<string, unknown>;

/**
 * The error every service throws for an expected failure.
 *
 * It crosses a service binding as a value (refusals.ts) and is rebuilt on the caller's side; a
 * caller that reads a raw binding sees its fields (`name`, `code`, `status`, `details`) without the
 * class. Recognise one with {@link isServiceError}, never with `instanceof`.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: ErrorDetails;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (details !== undefined) this.details = details;
  }
}

/** The shape a ServiceError keeps after crossing RPC (no prototype, same fields). */
export interface ServiceErrorLike {
  name: "ServiceError";
  code: ErrorCode;
  message: string;
  status?: number;
  details?: ErrorDetails;
}

/** True for a ServiceError thrown here or by another worker over RPC. */
export function isServiceError(value: unknown): value is ServiceErrorLike {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as { name?: unknown; code?: unknown };
  return (
    candidate.name === "ServiceError" &&
    typeof candidate.code === "string" &&
    Object.hasOwn(ERROR_STATUS, candidate.code)
  );
}
