import { type ErrorCode, ServiceError } from "@cognomega/shared";

/** Plain data (not `unknown`), so the failure branch stays visible in the typed RPC proxy. */
export type LedgerDetails = { [key: string]: string | number | boolean | null | object };

/**
 * What an AccountLedger method answers. The ledger returns failures instead of throwing them, so
 * a refusal never crosses the Durable Object boundary as an exception: the stored state is exactly
 * what the transaction left, and the caller turns the failure into a ServiceError.
 */
export type LedgerResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: ErrorCode; message: string; details?: LedgerDetails };

export function success<T>(value: T): LedgerResult<T> {
  return { ok: true, value };
}

/** Thrown inside a ledger transaction to roll it back; caught at the method's edge. */
export class LedgerRefusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: LedgerDetails,
  ) {
    super(message);
  }
}

/** Runs `operation`, turning a refusal into a failed result (anything else still throws). */
export function attempt<T>(operation: () => T): LedgerResult<T> {
  try {
    return success(operation());
  } catch (error) {
    if (error instanceof LedgerRefusal) {
      const failure: LedgerResult<T> = { ok: false, code: error.code, message: error.message };
      if (error.details) failure.details = error.details;
      return failure;
    }
    throw error;
  }
}

/** The value of a ledger result, or the ServiceError its failure stands for. */
export function unwrap<T>(result: LedgerResult<T>): T {
  if (result.ok) return result.value;
  throw new ServiceError(result.code, result.message, result.details);
}
