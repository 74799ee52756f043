import type { UsageEvent } from "@cognomega/shared";

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;

/** An event as the rollup reads it: billing's usage event with the account it belongs to. */
export type RollupEvent = Pick<
  UsageEvent,
  | "provider"
  | "model"
  | "tokens_in"
  | "tokens_out"
  | "credits"
  | "source"
  | "estimated"
  | "characters"
  | "audio_seconds"
> & { account: string };

/**
 * One `usage_hourly` row: an hour's sums for one account, provider and model, every amount an
 * integer. Audio is summed in whole milliseconds (events carry seconds to the millisecond) and
 * written as the exact decimal seconds the column holds.
 */
export interface HourRow {
  account: string;
  provider: string;
  model: string;
  requests: number;
  tokens_in: number;
  tokens_out: number;
  audio_ms: number;
  characters: number;
  credits_micro: number;
  estimated_requests: number;
  client_requests: number;
  embedding_requests: number;
  embedding_tokens: number;
}

/** A whole, non-negative amount, or 0 for anything else (an event from before a field existed). */
function whole(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

/**
 * Sums one hour's events per (account, provider, model), provider and model exactly as the events
 * recorded them. Credits come back to micro-credits (events list them as credits, from integer
 * micro-credits, so rounding recovers the integer exactly). Embeddings are RAG's events.
 */
export function aggregate(events: Iterable<RollupEvent>): HourRow[] {
  // Keyed by a JSON triple: no separator a name could contain can make two triples collide.
  const rows = new Map<string, HourRow>();
  for (const event of events) {
    const key = JSON.stringify([event.account, event.provider, event.model]);
    let row = rows.get(key);
    if (!row) {
      row = {
        account: event.account,
        provider: event.provider,
        model: event.model,
        requests: 0,
        tokens_in: 0,
        tokens_out: 0,
        audio_ms: 0,
        characters: 0,
        credits_micro: 0,
        estimated_requests: 0,
        client_requests: 0,
        embedding_requests: 0,
        embedding_tokens: 0,
      };
      rows.set(key, row);
    }
    const tokensIn = whole(event.tokens_in);
    row.requests += 1;
    row.tokens_in += tokensIn;
    row.tokens_out += whole(event.tokens_out);
    row.audio_ms += whole((event.audio_seconds ?? 0) * 1000);
    row.characters += whole(event.characters);
    row.credits_micro += whole(event.credits * 1_000_000);
    if (event.estimated === true) row.estimated_requests += 1;
    if (event.source === "client") row.client_requests += 1;
    if (event.source === "rag") {
      row.embedding_requests += 1;
      row.embedding_tokens += tokensIn;
    }
  }
  return [...rows.values()];
}

/** Whole milliseconds as the exact decimal seconds `numeric(18,3)` takes ("12.345"). */
export function decimalSeconds(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}`;
}

/** The start of the UTC hour `at` (epoch ms) falls in. */
export function hourOf(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

/** The starts of every hour from the one `from` falls in to the one `to` falls in, oldest first. */
export function hoursTouched(from: number, to: number): number[] {
  const hours: number[] = [];
  for (let hour = hourOf(from); hour <= to; hour += HOUR_MS) hours.push(hour);
  return hours;
}
