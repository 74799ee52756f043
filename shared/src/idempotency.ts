import * as v from "valibot";
import { ServiceError } from "./errors";
import { logEvent } from "./log";

/**
 * The longest `Idempotency-Key` a client may send (docs/api.md and the OpenAPI document promise
 * 1-255 visible ASCII characters).
 */
export const IDEMPOTENCY_KEY_MAX_CHARS = 255;

const CLIENT_KEY = /^[\x21-\x7e]{1,255}$/;
// The rule above with 45 more characters: room for the scope a worker puts in front of a client's
// key before passing it on (`user:`, `voice:user:`) or uses instead of one (`job:<id>:<nonce>`, 73).
const SCOPED_KEY = /^[\x21-\x7e]{1,300}$/;
const RULE = `Idempotency-Key must be 1-${IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters`;

/** An `Idempotency-Key` header as a valibot schema: 1-255 visible ASCII characters. */
export const IdempotencyKey = v.pipe(v.string(), v.regex(CLIENT_KEY, RULE));

function refuse(): never {
  throw new ServiceError("invalid_input", RULE, {
    issues: [{ path: "Idempotency-Key", message: `must be 1-${IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters` }],
  });
}

/**
 * A client's `Idempotency-Key` as sent (the header's value, or null/undefined when it has none):
 * null without one, the key when it is 1-255 visible ASCII characters, else 400 `invalid_input`
 * naming the header. The one rule for every route that takes a key.
 */
export function clientIdempotencyKey(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string" || !CLIENT_KEY.test(value)) refuse();
  return value;
}

/**
 * A key a worker received from another (a client's key behind its scope, or a job's own): the
 * same rule, with room for the scope. A client never sends one; a longer one is refused the same way.
 */
export function scopedIdempotencyKey(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string" || !SCOPED_KEY.test(value)) refuse();
  return value;
}

/** What beginning an operation under a key found: a new run (with the nonce its charges derive from) or a stored answer. */
export type BegunOperation = { state: "new"; nonce: string } | { state: "replay"; response: string };

/**
 * One idempotency key's record in the ledger (BillingService's operations over RPC, or the ledger
 * object itself): claimed before a run, given the answer after it, released when it fails.
 */
export interface OperationRecord {
  /** Claims the key for a run, or finds its answer; `conflict`/`idempotency_mismatch` refuse. */
  begin(fingerprint: string): Promise<BegunOperation>;
  /** Stores the answer a retry with the key replays. */
  complete(response: string): Promise<void>;
  /** Releases the key after a failed run, so a retry may run again. */
  abandon(): Promise<void>;
}

/** What a run under a key is given: its nonce, and the means to end the record itself later. */
export interface OperationRun {
  /** Names the run's charges (the same on every retry of the record); undefined without a key. */
  nonce: string | undefined;
  /**
   * Takes the record's ending over, for an answer that ends after the run returns (a stream): the
   * run's result is then not stored, and the function returned ends the record once, storing the
   * response it is given or, given undefined, releasing the key.
   */
  defer(): (response: string | undefined) => Promise<void>;
}

/**
 * The idempotency lifecycle every keyed operation shares: claim the key, then replay the stored
 * answer, or run and store what `answer` makes of the result; a run that throws releases the key
 * (a failed release only leaves the record to its lease) and its error goes on. Without a record
 * (no key) the run just runs, and the request's fingerprint is never computed.
 */
export async function runOnce<T>(
  record: OperationRecord | undefined,
  fingerprint: () => string | Promise<string>,
  steps: {
    replay: (response: string) => T | Promise<T>;
    run: (operation: OperationRun) => Promise<T>;
    answer: (result: T) => string;
  },
): Promise<T> {
  if (record === undefined) return steps.run({ nonce: undefined, defer: () => async () => {} });
  const begun = await record.begin(await fingerprint());
  if (begun.state === "replay") return steps.replay(begun.response);
  let deferred = false;
  let ended = false;
  const end = async (response: string | undefined) => {
    if (ended) return;
    ended = true;
    if (response === undefined) await record.abandon();
    else await record.complete(response);
  };
  try {
    const result = await steps.run({
      nonce: begun.nonce,
      defer: () => {
        deferred = true;
        return end;
      },
    });
    if (!deferred) {
      ended = true;
      await record.complete(steps.answer(result));
    }
    return result;
  } catch (error) {
    // A run that failed, or whose answer could not be stored: the key is free for a retry.
    if (!deferred || !ended) {
      ended = true;
      await record.abandon().catch((failure: unknown) => {
        logEvent("warn", "idempotency key not released; a retry waits out its lease", { error: failure });
      });
    }
    throw error;
  }
}
