import * as v from "valibot";
import type { AiUsage } from "./usage";

/** Micro-credits per credit: every amount is an integer number of micro-credits internally. */
export const MICRO_PER_CREDIT = 1_000_000;
/** The largest single amount accepted anywhere: one billion credits. */
export const MAX_CREDITS = 1_000_000_000;

const DECIMAL = /^(-?)(\d{1,10})(?:\.(\d{1,6}))?$/;

/**
 * Converts a credit amount (a JSON number or decimal string with at most 6 decimals) to integer
 * micro-credits, exactly, through its decimal text (never `x * 1e6`). Undefined when the value has
 * more than 6 decimals, is not finite or exceeds {@link MAX_CREDITS}.
 */
export function creditsToMicro(value: number | string): number | undefined {
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value.trim();
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const [, sign, whole = "0", fraction = ""] = match;
  const micro = Number(whole) * MICRO_PER_CREDIT + Number(fraction.padEnd(6, "0"));
  if (micro > MAX_CREDITS * MICRO_PER_CREDIT) return undefined;
  return sign === "-" ? -micro : micro;
}

/**
 * Micro-credits as a JSON number of credits. Division by 10^6 is correctly rounded, so the number's
 * shortest text is the exact decimal with at most 6 decimals.
 */
export function microToCredits(micro: number): number {
  return micro / MICRO_PER_CREDIT;
}

/** Micro-credits as an exact decimal string, for headers (`X-Credits-Balance: 4.999875`). */
export function formatCredits(micro: number): string {
  return String(microToCredits(micro));
}

/**
 * A provider price in US dollars per million tokens as micro-credits per million tokens: exact,
 * through the price's decimal text (micro-USD × credits per USD). Undefined for a price with more
 * than 6 decimals or out of range.
 */
export function usdPerMToMicroPerM(usdPerM: number | string, creditsPerUsd: number): number | undefined {
  const microUsd = creditsToMicro(usdPerM);
  if (microUsd === undefined || microUsd < 0) return undefined;
  const micro = microUsd * creditsPerUsd;
  return Number.isSafeInteger(micro) ? micro : undefined;
}

/** Cost in micro-credits of a number of tokens at a price per million (micro-credits), rounded up. */
export function tokenCost(tokens: number, pricePerM: number): number {
  // BigInt: tokens × price can pass 2^53 for long prompts on expensive models.
  const product = BigInt(tokens) * BigInt(pricePerM);
  return Number((product + 999_999n) / 1_000_000n);
}

/** A credit amount in a request body: a number with at most 6 decimals, within ±MAX_CREDITS. */
export const CreditAmount = v.pipe(
  v.number("must be a number of credits"),
  v.check((value) => creditsToMicro(value) !== undefined, `must have at most 6 decimals and be within ±${MAX_CREDITS}`),
  v.transform((value) => creditsToMicro(value) as number),
);

/** An account named by an admin: a `guest:`/`email:` subject or a bare email address. */
export const AccountName = v.pipe(v.string(), v.trim(), v.minLength(3), v.maxLength(300));

/** Body of `POST /api/credits/adjust`. `delta` arrives in credits and leaves as micro-credits. */
export const AdjustRequest = v.strictObject({
  account: AccountName,
  delta: v.pipe(
    CreditAmount,
    v.check((micro) => micro !== 0, "must not be zero"),
  ),
  reason: v.pipe(v.string(), v.trim(), v.minLength(1, "a reason is required"), v.maxLength(500)),
});
export type AdjustRequest = v.InferOutput<typeof AdjustRequest>;

/** Body of `PUT /api/admin/limits/:account`; `null` returns a limit to the default. */
export const LimitsRequest = v.strictObject({
  rpm: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)))),
  daily_credits: v.optional(
    v.nullable(
      v.pipe(
        CreditAmount,
        v.check((micro) => micro > 0, "must be positive"),
      ),
    ),
  ),
});
export type LimitsRequest = v.InferOutput<typeof LimitsRequest>;

/** Paging for history and usage: `limit` 1-100, an opaque `cursor`. */
export const PageQuery = v.object({
  limit: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1), v.maxValue(100))),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(2000))),
});

/** One ledger entry as the public API shows it (credits, not micro-credits). */
export interface LedgerEntryView {
  id: string;
  kind: LedgerEntryKind;
  amount: number;
  balance_after: number;
  reason: string | null;
  request_id: string | null;
  actor: string;
  hold_id: string | null;
  created_at: string;
}

/** Why the balance moved. Corrections are `adjust` entries of the opposite sign. */
export type LedgerEntryKind = "grant" | "adjust" | "settle";

/** An open reservation. */
export interface HoldView {
  id: string;
  amount: number;
  expires_at: string;
}

/** `GET /api/credits`. `available` = `balance` − `reserved`. */
export interface CreditsView {
  account: string;
  balance: number;
  reserved: number;
  available: number;
  holds: HoldView[];
}

/** A tenant's limits and what is left of them. */
export interface LimitState {
  rpm: { limit: number; remaining: number; reset_seconds: number };
  daily_credits: { limit: number; remaining: number; reset_seconds: number };
}

/**
 * An allowance, as an instance asks BillingService for one: credits an SI instance holds many calls
 * against locally (each still charged as its own ledger entry, settled against the allowance
 * afterwards), or request slots of the current minute a gateway isolate counts requests from.
 */
export type AllowanceRequest = {
  /** The allowance's id: a new one opens it, an open one grows it. */
  id: string;
  /** The least that must be granted (the call about to be made); less is a 402. */
  min_micro: number;
  /** What would be useful: several calls' worth. The ledger grants at most half of what is free. */
  want_micro: number;
  /** Request slots wanted in the current minute (the gateway's); 0 for SI's credit allowances. */
  want_slots: number;
  ttl_seconds: number;
};

/** Where an allowance stands, as of one ledger transaction. Amounts in micro-credits. */
export type AllowanceState = {
  id: string;
  held_micro: number;
  charged_micro: number;
  /** The minute (ms since epoch ÷ 60,000) its request slots belong to, and how many it has. */
  window: number;
  slots: number;
  expires_at: number;
  balance_micro: number;
  /** The account's latest ledger entry: orders snapshots taken by concurrent calls. */
  entry_seq: number;
  limits: LimitState;
  /** The ledger's clock at this transaction (ms since epoch): `window` and `expires_at` are on it. */
  now: number;
};

export type AllowanceGrant = AllowanceState & {
  granted_micro: number;
  granted_slots: number;
  /**
   * With granted slots: the account's balance, reservations and open holds as of this transaction
   * (what `overview` returns), so a request whose counting needed a grant needs no second call.
   */
  credits?: CreditsView;
};

/** One call's actual cost, charged against an allowance (idempotent per `id`). */
export type AllowanceDraw = {
  id: string;
  cost_micro: number;
  request_id: string;
  /** When the call was charged (ms since epoch); the usage event's time. */
  at?: number;
  /** Written as the call's usage event. */
  usage?: AiUsage;
};

export type AllowanceSettlement = AllowanceState & {
  draws: { id: string; charged_micro: number; shortfall_micro: number; replayed: boolean }[];
};
