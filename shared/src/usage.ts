import * as v from "valibot";
import { CreditAmount } from "./credits";

/**
 * The longest model id anywhere: catalog ids, an ask naming its model, usage events. One limit, so a
 * model the catalog accepts is always one billing can record a charge and usage event for.
 */
export const MODEL_ID_MAX_LENGTH = 100;

const TOKENS = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100_000_000));

/** Body of `POST /api/billing/usage`: what the client reports; time and request id are the server's. */
export const UsageReport = v.strictObject({
  tokens_in: TOKENS,
  tokens_out: TOKENS,
  provider: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "provider must be 1-64 of [a-z0-9._-]")),
  model: v.pipe(
    v.string(),
    v.minLength(1),
    v.maxLength(MODEL_ID_MAX_LENGTH),
    v.regex(/^[\x21-\x7e]+$/, "model must be visible ASCII"),
  ),
  credits: v.optional(v.pipe(CreditAmount, v.minValue(0, "must not be negative"))),
});
export type UsageReport = v.InferOutput<typeof UsageReport>;

/** One usage event as stored and listed. `credits` is informational for client-reported events. */
export interface UsageEvent {
  id: string;
  at: string;
  request_id: string;
  tokens_in: number;
  tokens_out: number;
  provider: string;
  model: string;
  credits: number;
  /** Who made the call: the client's own report, an AI call (SI), speech (voice), an embedding (RAG). */
  source: "client" | "si" | "voice" | "rag";
  estimated?: boolean;
  /** Speech: the characters spoken (text to speech). */
  characters?: number;
  /** Speech: the seconds of audio transcribed (speech to text), to the millisecond. */
  audio_seconds?: number;
}

const INSTANT = v.pipe(
  v.string(),
  v.isoTimestamp("must be an ISO 8601 timestamp"),
  v.transform((value) => Date.parse(value)),
);
const DATE = v.pipe(
  v.string(),
  v.isoDate("must be an ISO 8601 date or timestamp"),
  v.transform((value) => Date.parse(`${value}T00:00:00Z`)),
);

/** Query of `GET /api/billing/usage`: `from`/`to` (ISO date or timestamp), `cursor`, `limit`. */
export const UsageQuery = v.object({
  from: v.optional(v.union([INSTANT, DATE], "must be an ISO 8601 date or timestamp")),
  to: v.optional(v.union([INSTANT, DATE], "must be an ISO 8601 date or timestamp")),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(2000))),
  limit: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1), v.maxValue(100))),
});

/** What SI or voice tells billing about a settled AI call, for its usage event. */
export interface AiUsage {
  tokens_in: number;
  tokens_out: number;
  provider: string;
  model: string;
  estimated: boolean;
  /** The worker that made the call; `si` when absent. */
  source?: "si" | "voice" | "rag";
  /** Text to speech: characters spoken. */
  characters?: number;
  /** Speech to text: milliseconds of audio transcribed. */
  audio_ms?: number;
}

/** A usage event read by its hour (for the rollup), with the account it belongs to. */
export interface HourUsageEvent extends UsageEvent {
  account: string;
}

/** One page of an hour's usage events across all accounts; `cursor` is null after the last page. */
export interface HourUsagePage {
  events: HourUsageEvent[];
  cursor: string | null;
  /** KV reads this page took (list calls and batch gets), for the rollup's accounting. */
  kv_reads: number;
}
