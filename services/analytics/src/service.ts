import { type CallContext, type Identity, requireAdmin, ServiceError } from "@cognomega/shared";
import { rollupSettings } from "./config";
import { type Db, withClient } from "./db";
import {
  type Group,
  parseGroup,
  parseRange,
  type RollupRunView,
  recentRuns,
  summarize,
  type UsageSummary,
  unrolledHours,
} from "./queries";
import { HOUR_MS, hourOf, hoursTouched } from "./rollup";
import { type HourOutcome, type HourReader, rollupHour } from "./write";

/** What the service needs of its env (a subset of AnalyticsEnv, so tests can swap a binding). */
export interface ServiceEnv {
  DB?: Hyperdrive;
  BILLING: { usageForHour: AnalyticsEnv["BILLING"]["usageForHour"] };
  ROLLUP_LOOKBACK_HOURS?: string;
  ROLLUP_CATCHUP_HOURS?: string;
  ROLLUP_MAX_AGE_DAYS?: string;
}

/** What a rollup wrote: hours rolled, events read, rows written, and each hour's figures. */
export interface RollupResult {
  hours: number;
  events: number;
  rows: number;
  /** Hours in the range older than ROLLUP_MAX_AGE_DAYS, left as they were. */
  skipped_hours: number;
  /** SQL statements sent and KV reads made (billing's, for the events), for the run. */
  statements: number;
  kv_reads: number;
  per_hour: { hour: string; events: number; rows: number }[];
}

/** The widest range one on-demand rollup may span (analytics queries may span 90 days). */
export const MAX_ROLLUP_DAYS = 7;
/** Analytics queries take a day by default. */
const DEFAULT_QUERY_SPAN_MS = 86_400_000;

function reader(env: ServiceEnv, call: CallContext): HourReader {
  return async (hour, cursor) => {
    const page = await env.BILLING.usageForHour(hour, cursor, call);
    return { events: page.events, cursor: page.cursor, kv_reads: page.kv_reads };
  };
}

async function rollHours(db: Db, read: HourReader, hours: number[]): Promise<HourOutcome[]> {
  const outcomes: HourOutcome[] = [];
  // One hour after another on one connection: each is its own transaction, so an outage mid-run
  // keeps the hours already done and fails this one whole.
  for (const hour of hours) outcomes.push(await rollupHour(db, read, hour));
  return outcomes;
}

function result(outcomes: HourOutcome[], skipped: number, statements: number): RollupResult {
  let events = 0;
  let rows = 0;
  let kvReads = 0;
  for (const outcome of outcomes) {
    events += outcome.events;
    rows += outcome.rows;
    kvReads += outcome.kvReads;
  }
  return {
    hours: outcomes.length,
    events,
    rows,
    skipped_hours: skipped,
    statements,
    kv_reads: kvReads,
    per_hour: outcomes.map((o) => ({ hour: new Date(o.hour).toISOString(), events: o.events, rows: o.rows })),
  };
}

/**
 * Admin or system: rolls every hour `{from, to}` touches (default: the lookback window), the open
 * hour included, a `to` in the future clamped to now.
 */
export async function rollupRange(
  env: ServiceEnv,
  ctx: ExecutionContext,
  input: unknown,
  identity: Identity,
  call: CallContext,
  now = Date.now(),
): Promise<RollupResult> {
  requireAdmin(identity);
  const settings = rollupSettings(env);
  const body = (input ?? {}) as { from?: unknown; to?: unknown };
  if (
    typeof body !== "object" ||
    Array.isArray(body) ||
    Object.keys(body).some((key) => key !== "from" && key !== "to")
  )
    throw new ServiceError("invalid_input", "the body is an object with optional from and to, nothing else", {
      issues: [{ path: "", message: "expected { from?, to? }" }],
    });
  const range = parseRange(body, now, settings.lookbackHours * HOUR_MS);
  // Each hour is at least one billing call (a subrequest) and one transaction: a week per request
  // keeps one invocation well inside Workers' subrequest limit, however busy the hours.
  if (range.to - range.from > MAX_ROLLUP_DAYS * 86_400_000)
    throw new ServiceError(
      "invalid_input",
      `a rollup spans at most ${MAX_ROLLUP_DAYS} days; roll a longer range in parts`,
      {
        issues: [{ path: "from", message: "range too wide" }],
      },
    );
  const oldest = hourOf(now - settings.maxAgeDays * 86_400_000);
  const touched = hoursTouched(range.from, range.to);
  const hours = touched.filter((hour) => hour >= oldest);
  return withClient(env, ctx, async (db) =>
    result(await rollHours(db, reader(env, call), hours), touched.length - hours.length, db.statements),
  );
}

/**
 * The scheduled run (the `usage.rollup` job): every closed hour of the last ROLLUP_CATCHUP_HOURS
 * that no run has rolled since it closed (at most 24, oldest first), then the last
 * ROLLUP_LOOKBACK_HOURS and the open hour again, so late events are counted.
 */
export async function rollupScheduled(
  env: ServiceEnv,
  ctx: ExecutionContext,
  identity: Identity,
  call: CallContext,
  now = Date.now(),
): Promise<RollupResult> {
  requireAdmin(identity);
  const settings = rollupSettings(env);
  return withClient(env, ctx, async (db) => {
    const missing = await unrolledHours(db, now, settings.catchUpHours, settings.catchUpPerRun);
    const recent = hoursTouched(now - settings.lookbackHours * HOUR_MS, now);
    const hours = [...new Set([...missing, ...recent])].sort((a, b) => a - b);
    return result(await rollHours(db, reader(env, call), hours), 0, db.statements);
  });
}

/** A tenant's own usage: `query` is `{from?, to?, group_by?}` (no `account` grouping). */
export async function tenantUsage(
  env: ServiceEnv,
  ctx: ExecutionContext,
  query: unknown,
  identity: Identity,
  now = Date.now(),
): Promise<UsageSummary> {
  const q = (query ?? {}) as Record<string, unknown>;
  const range = parseRange(q, now, DEFAULT_QUERY_SPAN_MS);
  const group = parseGroup(q.group_by, false);
  return withClient(env, ctx, (db) => summarize(db, range, group, identity.sub));
}

const ACCOUNT = /^[\x21-\x7e]{1,300}$/;

/** Admin: any tenant's usage, or everyone's; `query` is `{from?, to?, account?, group_by?}`. */
export async function adminUsage(
  env: ServiceEnv,
  ctx: ExecutionContext,
  query: unknown,
  identity: Identity,
  now = Date.now(),
): Promise<UsageSummary> {
  requireAdmin(identity);
  const q = (query ?? {}) as Record<string, unknown>;
  const range = parseRange(q, now, DEFAULT_QUERY_SPAN_MS);
  const group: Group = parseGroup(q.group_by, true);
  const account = q.account === undefined || q.account === "" ? null : q.account;
  if (account !== null && (typeof account !== "string" || !ACCOUNT.test(account)))
    throw new ServiceError("invalid_input", "account: 1-300 visible ASCII characters", {
      issues: [{ path: "account", message: "not an account name" }],
    });
  return withClient(env, ctx, (db) => summarize(db, range, group, account));
}

/** What `rollups` reports. */
export interface RollupStatus {
  runs: RollupRunView[];
  /** The oldest closed hour of the catch-up window no run has rolled since it closed, or null. */
  oldest_unrolled_hour: string | null;
  /** Hours from that hour's end to now (0 when every closed hour is rolled). */
  lag_hours: number;
  /** Rows written by the succeeded runs of the last 24 hours. */
  rows_written_24h: number;
}

/** Admin: recent runs, the lag, and rows written. */
export async function rollupStatus(
  env: ServiceEnv,
  ctx: ExecutionContext,
  identity: Identity,
  now = Date.now(),
): Promise<RollupStatus> {
  requireAdmin(identity);
  const settings = rollupSettings(env);
  return withClient(env, ctx, async (db) => {
    const [oldest] = await unrolledHours(db, now, settings.catchUpHours, 1);
    const written = await db.query<{ rows: string | null }>(
      `SELECT sum(rows) AS rows FROM rollup_runs
        WHERE status = 'succeeded' AND started_at >= now() - interval '24 hours'`,
    );
    return {
      runs: await recentRuns(db),
      oldest_unrolled_hour: oldest === undefined ? null : new Date(oldest).toISOString(),
      lag_hours: oldest === undefined ? 0 : Math.floor((now - (oldest + HOUR_MS)) / HOUR_MS),
      rows_written_24h: Number(written.rows[0]?.rows ?? 0),
    };
  });
}
