import { DurableObject } from "cloudflare:workers";

/** A job waiting in the queue, as a pass takes it. */
export interface QueueEntry {
  id: string;
  tenant: string;
  runAt: number;
  /** When it entered the queue (epoch ms), to tell a row still being written from a lost one. */
  admittedAt: number;
}

/** What admitting a new job answered. */
export type Admission =
  | { ok: true; fresh: true }
  /** The id is already queued: the same Idempotency-Key's job, with its fingerprint's hash. */
  | { ok: true; fresh: false; fingerprint: string | null }
  | { ok: false; pending: number; retryAfter: number };

export interface NewEntry {
  id: string;
  tenant: string;
  runAt: number;
  /** Epoch ms after which the entry no longer counts nor runs (`JOBS_PENDING_TTL_DAYS`). */
  expiresAt: number;
  fingerprint: string | null;
}

/** The queue of one deployment: every entry point reaches the same object. */
export function jobQueue(env: JobsEnv): DurableObjectStub<JobQueue> {
  return env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue"));
}

/**
 * Every unfinished job (pending, running, waiting to retry), one SQLite object for the deployment.
 * KV cannot count or compare-and-set, so the per-tenant cap and the fair pick of due jobs live
 * here. Methods never await, so each applies whole before the next: two creates cannot both take
 * a tenant's last place. The job's row in KV stays the truth about the job itself, and its
 * {@link JobLease} about who runs it.
 */
export class JobQueue extends DurableObject<JobsEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: JobsEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS queue (
         id TEXT PRIMARY KEY, tenant TEXT NOT NULL, run_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
         taken_until INTEGER NOT NULL DEFAULT 0, admitted_at INTEGER NOT NULL, fingerprint TEXT)`,
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS queue_tenant ON queue (tenant, run_at)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS queue_due ON queue (run_at)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS queue_expiry ON queue (expires_at)");
  }

  /**
   * Queues a new job unless its tenant already has `max` unfinished ones (`null`: no cap). An id
   * already queued is not queued again: the caller gets the queued one's fingerprint hash instead.
   */
  admit(entry: NewEntry, max: number | null, now: number): Admission {
    this.sql.exec("DELETE FROM queue WHERE tenant = ? AND expires_at <= ?", entry.tenant, now);
    const existing = this.sql
      .exec<{ fingerprint: string | null }>("SELECT fingerprint FROM queue WHERE id = ?", entry.id)
      .toArray()[0];
    if (existing) return { ok: true, fresh: false, fingerprint: existing.fingerprint };
    if (max !== null) {
      const { pending, earliest } = this.sql
        .exec<{ pending: number; earliest: number | null }>(
          "SELECT COUNT(*) AS pending, MIN(run_at) AS earliest FROM queue WHERE tenant = ?",
          entry.tenant,
        )
        .one();
      if (pending >= max) {
        // A place frees when a job finishes: soonest when the earliest one is due (passes run each minute).
        const wait = Math.ceil(((earliest ?? now) - now) / 1000);
        return { ok: false, pending, retryAfter: Math.min(Math.max(wait, 60), 3600) };
      }
    }
    this.sql.exec(
      "INSERT INTO queue (id, tenant, run_at, expires_at, taken_until, admitted_at, fingerprint) VALUES (?, ?, ?, ?, 0, ?, ?)",
      entry.id,
      entry.tenant,
      entry.runAt,
      entry.expiresAt,
      now,
      entry.fingerprint,
    );
    return { ok: true, fresh: true };
  }

  /**
   * Takes up to `limit` due jobs for one pass, fairly: every tenant with a due job gets its oldest
   * one before any tenant gets a second, and so on round by round. Taken entries are not offered to
   * another pass for `holdMs` (the lease time), so overlapping passes do not spend their share on
   * jobs already running; the job's lease still decides who runs it.
   */
  take(now: number, limit: number, holdMs: number): QueueEntry[] {
    this.sql.exec("DELETE FROM queue WHERE expires_at <= ?", now);
    const picked = this.sql
      .exec<{ id: string; tenant: string; run_at: number; admitted_at: number }>(
        `SELECT id, tenant, run_at, admitted_at FROM (
           SELECT id, tenant, run_at, admitted_at,
                  ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY run_at, id) AS turn
           FROM queue WHERE run_at <= ? AND taken_until <= ?)
         ORDER BY turn, run_at, id LIMIT ?`,
        now,
        now,
        limit,
      )
      .toArray();
    for (const row of picked) this.sql.exec("UPDATE queue SET taken_until = ? WHERE id = ?", now + holdMs, row.id);
    return picked.map((row) => ({ id: row.id, tenant: row.tenant, runAt: row.run_at, admittedAt: row.admitted_at }));
  }

  /** The job waits to run again at `runAt` (a retry), offered to the first pass from then. */
  reschedule(id: string, runAt: number, expiresAt: number): void {
    this.sql.exec("UPDATE queue SET run_at = ?, expires_at = ?, taken_until = 0 WHERE id = ?", runAt, expiresAt, id);
  }

  /** Not offered to a pass before `until` (another runner holds the job's lease until then). */
  hold(id: string, until: number): void {
    this.sql.exec("UPDATE queue SET taken_until = ? WHERE id = ?", until, id);
  }

  /** The job finished, was cancelled or is gone: it leaves the queue and frees its tenant's place. */
  remove(id: string): void {
    this.sql.exec("DELETE FROM queue WHERE id = ?", id);
  }

  /** Queues a job found only in the old KV due index, outside any cap (cleanup's migration). */
  restore(entry: NewEntry, now: number): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO queue (id, tenant, run_at, expires_at, taken_until, admitted_at, fingerprint) VALUES (?, ?, ?, ?, 0, ?, ?)",
      entry.id,
      entry.tenant,
      entry.runAt,
      entry.expiresAt,
      now,
      entry.fingerprint,
    );
  }

  /** A tenant's unfinished jobs as counted against its cap (tests and support). */
  pending(tenant: string, now: number): number {
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM queue WHERE tenant = ? AND expires_at > ?", tenant, now)
      .one().n;
  }
}
