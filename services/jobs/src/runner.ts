import { type CallContext, isServiceError, type JobRunReport } from "@cognomega/shared";
import { backoffMs, type JobSettings } from "./config";
import { KINDS } from "./kinds";
import type { LeaseGrant } from "./lease";
import { jobQueue, type QueueEntry } from "./queue";
import { getRow, isFinished, type JobRow, migrateDueIndex, pendingExpiry, saveRow, transition } from "./store";

export interface RunOptions {
  now: number;
  limit: number;
  runner: string;
  requestId: string;
}

/** Billing's shortest in-flight lease: the wait after a `conflict` that does not say how long. */
const IN_FLIGHT_FALLBACK_MS = 10 * 60_000;
/** Waited beyond a conflict's `retry_after`, so the retry comes after the lease is up, not at it. */
const IN_FLIGHT_MARGIN_MS = 5_000;
/** The longest a conflict may make a job wait: the longest backoff. */
const IN_FLIGHT_MAX_MS = 6 * 3_600_000;

/**
 * How long to wait after `error` if it says an earlier attempt's call is still in flight: billing's
 * `conflict` with `retry_after`, the seconds left of that call's lease, within bounds. Undefined
 * for any other error.
 */
function inFlightWaitMs(error: unknown): number | undefined {
  if (!isServiceError(error) || error.code !== "conflict") return undefined;
  const seconds = error.details?.retry_after;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return undefined;
  return Math.min(seconds * 1000 + IN_FLIGHT_MARGIN_MS, IN_FLIGHT_MAX_MS);
}

/** Client mistakes will not get better by retrying; everything else might. */
function retryable(error: unknown): boolean {
  if (!isServiceError(error)) return true;
  if (error.code === "rate_limited" || error.code === "conflict") return true;
  return (error.status ?? 500) >= 500;
}

function message(error: unknown): string {
  if (isServiceError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the job ran longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

/**
 * Runs `run` over `items`, at most `width` at a time, and answers in the items' order. A throw does
 * not stop the others: every item is run, then the first error is thrown.
 */
async function pooled<T, R>(items: T[], width: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        out[index] = await run(items[index] as T);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (errors.length > 0) throw errors[0];
  return out;
}

/** A row missing this soon after its job was queued may still be on its way (KV): not yet lost. */
const ROW_GRACE_MS = 60_000;

/**
 * One runner pass: the queue hands out up to `limit` due jobs, round-robin across tenants, and they
 * run at most `JOBS_RUN_CONCURRENCY` at a time, each once if this runner gets its lease. The lease
 * object, not KV, decides who runs a job and counts its attempts, so concurrent runners never run a
 * job twice and a runner that dies leaves a lease that simply expires.
 */
export async function runDue(
  env: JobsEnv,
  settings: JobSettings,
  options: RunOptions,
  cleanup: () => Promise<Record<string, number | boolean>>,
): Promise<JobRunReport[]> {
  // A few keys of the old due index a pass, so jobs queued before the queue existed still run.
  await migrateDueIndex(env, settings, options.now, 50);
  const due = await jobQueue(env).take(options.now, options.limit, settings.leaseMs);
  return pooled(due, settings.runConcurrency, (entry) => runOne(env, settings, options, entry, cleanup));
}

async function runOne(
  env: JobsEnv,
  settings: JobSettings,
  options: RunOptions,
  entry: QueueEntry,
  cleanup: () => Promise<Record<string, number | boolean>>,
): Promise<JobRunReport> {
  const { id } = entry;
  const queue = jobQueue(env);
  const lease = env.JOB_LEASE.get(env.JOB_LEASE.idFromName(id));
  // The lease runs from when this job is taken, not from the start of the pass.
  const grant = (await lease.acquire(
    options.runner,
    Math.max(options.now, Date.now()),
    settings.leaseMs,
  )) as LeaseGrant;
  if (!grant.ok) {
    // A finished (or cancelled) job is left in the queue only if a write was lost: drop it. A held
    // one is offered again when its holder's lease runs out.
    if (grant.reason === "finished") await queue.remove(id);
    else await queue.hold(id, grant.until);
    return { id, kind: "unknown", outcome: "skipped", reason: grant.reason };
  }
  let row = await getRow(env.KV_BILLING, id);
  if (!row || row.run_at > options.now || !(row.status === "pending" || row.status === "running")) {
    // The queue and the row disagree (a row not written yet or lost, or a job moved on): give the
    // lease back and put the queue right.
    await lease.release(options.runner);
    if (row && row.run_at > options.now && !isFinished(row.status))
      await queue.reschedule(id, row.run_at, pendingExpiry(settings, row));
    else if (row || Date.now() - entry.admittedAt > ROW_GRACE_MS) await queue.remove(id);
    else await queue.hold(id, options.now + ROW_GRACE_MS);
    return { id, kind: row?.kind ?? "unknown", outcome: "skipped", reason: "not due" };
  }
  const crashed = row.status === "running";
  if (grant.attempts >= row.max_attempts) {
    // Every attempt died with its runner: a poison job ends here instead of looping.
    const failed = {
      ...transition(row, "failed", options.now, `gave up: ${row.max_attempts} attempts started and none finished`),
      attempts: row.max_attempts,
      last_error: "the runner stopped during every attempt",
    };
    await lease.finish(options.runner, "failed", failed.updated_at, settings.ttlSeconds * 1000);
    await saveRow(env.KV_BILLING, failed, settings);
    await queue.remove(id);
    return { id, kind: row.kind, outcome: "failed", attempts: row.max_attempts, error: failed.last_error };
  }
  const attempt = await lease.start(options.runner);
  row = transition(
    { ...row, attempts: attempt },
    "running",
    options.now,
    crashed ? "the previous runner stopped; retrying" : `attempt ${attempt}`,
  );
  await saveRow(env.KV_BILLING, row, settings);
  return execute(env, settings, options, row, cleanup);
}

async function execute(
  env: JobsEnv,
  settings: JobSettings,
  options: RunOptions,
  started: JobRow,
  cleanup: () => Promise<Record<string, number | boolean>>,
): Promise<JobRunReport> {
  const lease = env.JOB_LEASE.get(env.JOB_LEASE.idFromName(started.id));
  const call: CallContext = { requestId: options.requestId };
  const kind = KINDS[started.kind];
  let row = started;
  try {
    if (!kind) throw new Error(`unknown kind ${started.kind}`);
    const result = await withTimeout(
      kind.run({ env, job: started, call, cleanup }),
      Math.max(1000, settings.leaseMs - 10_000),
    );
    const finishedAt = Date.now();
    row = { ...transition(row, "succeeded", finishedAt), result };
    await lease.finish(options.runner, "succeeded", row.updated_at, settings.ttlSeconds * 1000);
    await saveRow(env.KV_BILLING, row, settings);
    await jobQueue(env).remove(row.id);
    return { id: row.id, kind: row.kind, outcome: "succeeded", attempts: row.attempts };
  } catch (error) {
    const text = message(error).slice(0, 1000);
    const now = Math.max(Date.now(), options.now);
    const inFlightWait = inFlightWaitMs(error);
    if (inFlightWait !== undefined) {
      // An earlier attempt's ask is still in flight at billing (its runner died or timed out
      // mid-call) and was refused before any work: retry when billing will take it over (or replay
      // its answer), and give the attempt back, so a job with one attempt left is not failed by a
      // refusal while its ask may have been answered and charged. This cannot loop: only a counted
      // attempt of this job begins its ask, so every such refusal follows one.
      const next = now + inFlightWait;
      const attempts = row.attempts - 1;
      row = {
        ...transition(
          { ...row, attempts },
          "pending",
          now,
          `attempt ${row.attempts} not counted: ${text}; retrying at ${new Date(next).toISOString()}`,
        ),
        run_at: next,
        last_error: text,
      };
      await saveRow(env.KV_BILLING, row, settings);
      await jobQueue(env).reschedule(row.id, next, pendingExpiry(settings, row));
      await lease.release(options.runner, true);
      return { id: row.id, kind: row.kind, outcome: "retry_scheduled", attempts, error: text };
    }
    if (retryable(error) && row.attempts < row.max_attempts) {
      // A `conflict` that does not say how long (a billing from before `retry_after`): wait at least
      // billing's shortest in-flight lease rather than spend the remaining attempts on refusals.
      const inFlight = isServiceError(error) && error.code === "conflict";
      const next =
        options.now +
        (inFlight
          ? Math.max(backoffMs(settings, row.attempts), IN_FLIGHT_FALLBACK_MS + IN_FLIGHT_MARGIN_MS)
          : backoffMs(settings, row.attempts));
      row = {
        ...transition(
          row,
          "pending",
          now,
          `attempt ${row.attempts} failed: ${text}; retrying at ${new Date(next).toISOString()}`,
        ),
        run_at: next,
        last_error: text,
      };
      await saveRow(env.KV_BILLING, row, settings);
      await jobQueue(env).reschedule(row.id, next, pendingExpiry(settings, row));
      await lease.release(options.runner);
      return { id: row.id, kind: row.kind, outcome: "retry_scheduled", attempts: row.attempts, error: text };
    }
    row = { ...transition(row, "failed", now, text), last_error: text };
    await lease.finish(options.runner, "failed", row.updated_at, settings.ttlSeconds * 1000);
    await saveRow(env.KV_BILLING, row, settings);
    await jobQueue(env).remove(row.id);
    return { id: row.id, kind: row.kind, outcome: "failed", attempts: row.attempts, error: text };
  }
}
