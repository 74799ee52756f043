import { type HourUsagePage, ServiceError } from "@cognomega/shared";
import { type Db, inTransaction } from "./db";
import { aggregate, decimalSeconds, HOUR_MS, type HourRow, type RollupEvent } from "./rollup";

/** Rows per INSERT: 1,000 rows × 13 parameters stay far inside PostgreSQL's 65,535 per statement. */
export const ROWS_PER_STATEMENT = 1_000;
/** Pages of one hour's events read at most (5,000 events each: 50 million events) before giving up. */
const MAX_PAGES_PER_HOUR = 10_000;
/** The first key of the rollup's advisory locks (the second is the hour's number): "14" for issue 14. */
const LOCK_CLASS = 14;

/** Reads one page of an hour's events (billing's `usageForHour`). */
export type HourReader = (hour: number, cursor: string | null) => Promise<HourUsagePage>;

/** What rolling one hour wrote. */
export interface HourOutcome {
  hour: number;
  events: number;
  rows: number;
  /** KV reads billing made for the hour's events. */
  kvReads: number;
}

const COLUMNS = [
  "account",
  "provider",
  "model",
  "hour",
  "requests",
  "tokens_in",
  "tokens_out",
  "seconds",
  "characters",
  "credits_micro",
  "estimated_requests",
  "client_requests",
  "embedding_requests",
  "embedding_tokens",
] as const;
const AMOUNTS = COLUMNS.slice(4);

// The row's amounts replace what is stored (absolute, not added), and only when they differ: a re-run
// of an unchanged hour rewrites nothing, not even updated_at.
const ON_CONFLICT = `ON CONFLICT (account, provider, model, hour) DO UPDATE SET ${AMOUNTS.map(
  (column) => `${column} = EXCLUDED.${column}`,
).join(", ")}, updated_at = EXCLUDED.updated_at
WHERE (${AMOUNTS.map((column) => `usage_hourly.${column}`).join(", ")}) IS DISTINCT FROM (${AMOUNTS.map(
  (column) => `EXCLUDED.${column}`,
).join(", ")})`;

function rowValues(row: HourRow): unknown[] {
  return [
    row.account,
    row.provider,
    row.model,
    row.requests,
    row.tokens_in,
    row.tokens_out,
    decimalSeconds(row.audio_ms),
    row.characters,
    row.credits_micro,
    row.estimated_requests,
    row.client_requests,
    row.embedding_requests,
    row.embedding_tokens,
  ];
}

/**
 * One multi-row upsert of up to ROWS_PER_STATEMENT rows of one hour. `$1` is the hour, shared by
 * every row; each row brings its 13 other values as parameters (never spliced into the SQL).
 */
async function upsert(db: Db, hourIso: string, rows: HourRow[]): Promise<void> {
  const values: unknown[] = [hourIso];
  const tuples: string[] = [];
  for (const row of rows) {
    const own = rowValues(row);
    const base = values.length;
    const p = (i: number) => `$${base + i + 1}`;
    tuples.push(
      `(${p(0)}, ${p(1)}, ${p(2)}, $1, ${own
        .slice(3)
        .map((_, i) => p(i + 3))
        .join(", ")}, now())`,
    );
    values.push(...own);
  }
  await db.query(
    `INSERT INTO usage_hourly (${COLUMNS.join(", ")}, updated_at) VALUES ${tuples.join(", ")} ${ON_CONFLICT}`,
    values,
  );
}

/** Every event of an hour, page by page, and the KV reads that took. */
async function readHour(read: HourReader, hour: number): Promise<{ events: RollupEvent[]; kvReads: number }> {
  const events: RollupEvent[] = [];
  let kvReads = 0;
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES_PER_HOUR; page++) {
    const result: HourUsagePage = await read(hour, cursor);
    for (const event of result.events) events.push(event);
    kvReads += result.kv_reads;
    cursor = result.cursor;
    if (cursor === null) return { events, kvReads };
  }
  throw new ServiceError("internal", `hour ${new Date(hour).toISOString()} has more events than a rollup reads`);
}

/**
 * Rolls one hour in one transaction: takes the hour's advisory lock (a concurrent run of the same
 * hour waits, then recomputes after this one, so nothing is counted twice or from a stale read),
 * reads all of the hour's events, writes their sums absolutely in multi-row upserts and records a
 * succeeded `rollup_runs` row. Anything failing rolls it all back: the hour stays as it was, a
 * `failed` run is recorded if the database still answers, and the error is rethrown for the caller
 * (the job) to retry. Rows of the hour not in the new sums are left: an hour's events are only ever
 * added to while they exist, so such a row can only be one whose events KV has since expired, and
 * those hours are not rolled again (`ROLLUP_MAX_AGE_DAYS`).
 */
export async function rollupHour(db: Db, read: HourReader, hour: number): Promise<HourOutcome> {
  if (hour % HOUR_MS !== 0) throw new ServiceError("internal", "an hour to roll starts on the hour");
  const hourIso = new Date(hour).toISOString();
  const startedAt = new Date().toISOString();
  let events = 0;
  try {
    return await inTransaction(db, async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_CLASS, hour / HOUR_MS]);
      const hourEvents = await readHour(read, hour);
      events = hourEvents.events.length;
      const rows = aggregate(hourEvents.events);
      for (let at = 0; at < rows.length; at += ROWS_PER_STATEMENT)
        await upsert(tx, hourIso, rows.slice(at, at + ROWS_PER_STATEMENT));
      // now() is the transaction's start, on the database's clock, like the lag's "after the hour".
      await tx.query(
        `INSERT INTO rollup_runs (hour, started_at, finished_at, events, rows, status)
         VALUES ($1, now(), clock_timestamp(), $2, $3, 'succeeded')`,
        [hourIso, events, rows.length],
      );
      return { hour, events, rows: rows.length, kvReads: hourEvents.kvReads };
    });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    await db
      .query(
        `INSERT INTO rollup_runs (hour, started_at, finished_at, events, rows, status, error)
         VALUES ($1, $2, clock_timestamp(), $3, 0, 'failed', $4)`,
        [hourIso, startedAt, events, text.slice(0, 1000)],
      )
      .catch(() => {});
    throw error;
  }
}
