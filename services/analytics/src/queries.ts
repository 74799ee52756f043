import { microToCredits, ServiceError } from "@cognomega/shared";
import type { Db } from "./db";
import { HOUR_MS, hourOf } from "./rollup";

/** The widest range one rollup or analytics request may span. */
export const MAX_RANGE_DAYS = 90;
/** Rows one analytics answer holds at most (90 days by hour is 2,161). */
export const MAX_ANSWER_ROWS = 5_000;

/** What analytics rows can be grouped by; `account` is for admins. */
export const GROUPS = ["hour", "day", "model", "provider", "account"] as const;
export type Group = (typeof GROUPS)[number];

/** A range of time in epoch ms, both ends inclusive. */
export interface Range {
  from: number;
  to: number;
}

function invalid(path: string, message: string): ServiceError {
  return new ServiceError("invalid_input", `${path}: ${message}`, { issues: [{ path, message }] });
}

// Plain ISO 8601 dates and times, no more: linear, and Date.parse reads all of them the same way.
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

function instant(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > 40 || !ISO.test(value))
    throw invalid(path, "must be an ISO 8601 date or time, e.g. 2026-12-01T09:00:00Z");
  // Date.parse rolls 2026-02-30 over to March; a date that does not exist is refused instead.
  const [year, month, day] = [value.slice(0, 4), value.slice(5, 7), value.slice(8, 10)].map(Number) as [
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const clock = value.slice(11, 19).split(":").map(Number);
  const at = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (
    Number.isNaN(at) ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    (clock[0] ?? 0) > 23 ||
    (clock[1] ?? 0) > 59 ||
    (clock[2] ?? 0) > 59
  )
    throw invalid(path, "is not a date and time that exists");
  return at;
}

/**
 * A range from a request's `from`/`to` (ISO strings, either optional): `to` defaults to now and is
 * clamped to now (nothing later exists), `from` defaults to `defaultSpanMs` before `to`. `to` before
 * `from`, a span over MAX_RANGE_DAYS, or a time that is not ISO 8601 is `invalid_input`.
 */
export function parseRange(input: { from?: unknown; to?: unknown }, now: number, defaultSpanMs: number): Range {
  const rawTo = instant(input.to, "to");
  const rawFrom = instant(input.from, "from");
  if (rawTo !== undefined && rawFrom !== undefined && rawTo < rawFrom) throw invalid("to", "is before from");
  const to = Math.min(rawTo ?? now, now);
  const from = rawFrom ?? to - defaultSpanMs;
  if (from > to) throw invalid("from", "is in the future");
  if (to - from > MAX_RANGE_DAYS * 86_400_000)
    throw invalid("from", `the range spans more than ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

/** `group_by`, default `hour`; `account` only where `allowAccount`. */
export function parseGroup(value: unknown, allowAccount: boolean): Group {
  if (value === undefined || value === null || value === "") return "hour";
  const allowed: readonly Group[] = allowAccount ? GROUPS : GROUPS.filter((group) => group !== "account");
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
    throw invalid("group_by", `must be one of ${allowed.join(", ")}`);
  return value as Group;
}

/** One analytics row: the group's value under its own name, then the sums (credits as credits). */
export type UsageSummaryRow = { [group: string]: string | number } & {
  requests: number;
  tokens_in: number;
  tokens_out: number;
  seconds: number;
  characters: number;
  credits: number;
  credits_micro: number;
  estimated_requests: number;
  embedding_requests: number;
};

/** The analytics answer: rows in the group's order, and whether MAX_ANSWER_ROWS cut it short. */
export interface UsageSummary {
  from: string;
  to: string;
  group_by: Group;
  rows: UsageSummaryRow[];
  truncated: boolean;
}

// Fixed SQL per group: the group is one of GROUPS, never text from the request.
const GROUP_SQL: Record<Group, { select: string; order: string }> = {
  hour: { select: "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')", order: "1" },
  day: { select: "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')", order: "1" },
  model: { select: "model", order: "credits_micro DESC, 1" },
  provider: { select: "provider", order: "credits_micro DESC, 1" },
  account: { select: "account", order: "credits_micro DESC, 1" },
};

/**
 * Sums `usage_hourly` over every hour the range touches (the open hour included: its rows are
 * provisional), for one account or (`account` null, admins only) all, grouped by `group`.
 */
export async function summarize(db: Db, range: Range, group: Group, account: string | null): Promise<UsageSummary> {
  const { select, order } = GROUP_SQL[group];
  const values: unknown[] = [new Date(hourOf(range.from)).toISOString(), new Date(hourOf(range.to)).toISOString()];
  if (account !== null) values.push(account);
  const result = await db.query<Record<string, string>>(
    `SELECT ${select} AS key,
            sum(requests) AS requests, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
            sum(seconds) AS seconds, sum(characters) AS characters, sum(credits_micro) AS credits_micro,
            sum(estimated_requests) AS estimated_requests, sum(embedding_requests) AS embedding_requests
       FROM usage_hourly
      WHERE hour >= $1 AND hour <= $2 ${account !== null ? "AND account = $3" : ""}
      GROUP BY 1 ORDER BY ${order} LIMIT ${MAX_ANSWER_ROWS + 1}`,
    values,
  );
  const rows = result.rows.slice(0, MAX_ANSWER_ROWS).map((row) => {
    const creditsMicro = Number(row.credits_micro);
    return {
      [group]: row.key as string,
      requests: Number(row.requests),
      tokens_in: Number(row.tokens_in),
      tokens_out: Number(row.tokens_out),
      seconds: Number(row.seconds),
      characters: Number(row.characters),
      credits: microToCredits(creditsMicro),
      credits_micro: creditsMicro,
      estimated_requests: Number(row.estimated_requests),
      embedding_requests: Number(row.embedding_requests),
    } as UsageSummaryRow;
  });
  return {
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    group_by: group,
    rows,
    truncated: result.rows.length > MAX_ANSWER_ROWS,
  };
}

/** One recorded attempt to roll an hour. */
export interface RollupRunView {
  hour: string;
  started_at: string;
  finished_at: string | null;
  status: string;
  events: number | null;
  rows: number | null;
  error: string | null;
}

/** Runs listed by `rollups`. */
const RECENT_RUNS = 50;

/**
 * The closed hours of the last `windowHours` before `now` (oldest first, at most `limit`) that no
 * succeeded run has rolled since they closed: what the scheduled rollup catches up on, and the lag.
 */
export async function unrolledHours(db: Db, now: number, windowHours: number, limit: number): Promise<number[]> {
  const last = hourOf(now) - HOUR_MS;
  const first = last - (windowHours - 1) * HOUR_MS;
  if (last < first) return [];
  const result = await db.query<{ hour: Date }>(
    `SELECT h AS hour FROM generate_series($1::timestamptz, $2::timestamptz, interval '1 hour') AS h
      WHERE NOT EXISTS (SELECT 1 FROM rollup_runs r
                         WHERE r.hour = h AND r.status = 'succeeded' AND r.started_at >= h + interval '1 hour')
      ORDER BY h LIMIT $3`,
    [new Date(first).toISOString(), new Date(last).toISOString(), limit],
  );
  return result.rows.map((row) => new Date(row.hour).getTime());
}

/** Recent runs, newest first, and what they wrote. */
export async function recentRuns(db: Db): Promise<RollupRunView[]> {
  const result = await db.query<{
    hour: Date;
    started_at: Date;
    finished_at: Date | null;
    status: string;
    events: string | null;
    rows: string | null;
    error: string | null;
  }>(
    `SELECT hour, started_at, finished_at, status, events, rows, error FROM rollup_runs
      ORDER BY started_at DESC, id DESC LIMIT ${RECENT_RUNS}`,
  );
  return result.rows.map((row) => ({
    hour: new Date(row.hour).toISOString(),
    started_at: new Date(row.started_at).toISOString(),
    finished_at: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
    status: row.status,
    events: row.events === null ? null : Number(row.events),
    rows: row.rows === null ? null : Number(row.rows),
    error: row.error,
  }));
}
