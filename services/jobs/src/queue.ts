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
 * here, with a row per tenant that has queued jobs saying when it was last served. Methods never
 * await, so each applies whole before the next: two creates cannot both take a tenant's last place. The job's row in KV stays the truth about the job itself, and its
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
    // With id in the index, a tenant's oldest due entry is read in order, with no sort. Nothing
    // reads due entries across tenants any more, so the global run_at index goes.
    this.sql.exec("DROP INDEX IF EXISTS queue_tenant");
    this.sql.exec("DROP INDEX IF EXISTS queue_due");
    this.sql.exec("CREATE INDEX IF NOT EXISTS queue_turn ON queue (tenant, run_at, id)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS queue_expiry ON queue (expires_at)");
    const known = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'served'").toArray();
    // `seq`: the tenant's place in the order of service when last served, 0 if never; `since`: the
    // earliest run_at queued while never served, so never-served tenants go oldest first.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS served (
         tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0, since INTEGER NOT NULL)`,
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS served_order ON served (seq, since)");
    // A queue written before this table: its tenants start as never served.
    if (known.length === 0)
      this.sql.exec("INSERT INTO served (tenant, since) SELECT tenant, MIN(run_at) FROM queue GROUP BY tenant");
  }

  /**
   * Queues a new job unless its tenant already has `max` unfinished ones (`null`: no cap). An id
   * already queued is not queued again: the caller gets the queued one's fingerprint hash instead.
   */
  admit(entry: NewEntry, max: number | null, now: number): Admission {
    // Reads only until admitted: a create refused at the cap writes nothing.
    const existing = this.sql
      .exec<{ fingerprint: string | null }>(
        "SELECT fingerprint FROM queue WHERE id = ? AND expires_at > ?",
        entry.id,
        now,
      )
      .toArray()[0];
    if (existing) return { ok: true, fresh: false, fingerprint: existing.fingerprint };
    if (max !== null) {
      const { pending, earliest } = this.sql
        .exec<{ pending: number; earliest: number | null }>(
          "SELECT COUNT(*) AS pending, MIN(run_at) AS earliest FROM queue WHERE tenant = ? AND expires_at > ?",
          entry.tenant,
          now,
        )
        .one();
      if (pending >= max) {
        // A place frees when a job finishes: soonest when the earliest one is due (passes run each minute).
        const wait = Math.ceil(((earliest ?? now) - now) / 1000);
        return { ok: false, pending, retryAfter: Math.min(Math.max(wait, 60), 3600) };
      }
    }
    // The tenant's expired entries (an expired one of this id among them) give their places up.
    this.sql.exec("DELETE FROM queue WHERE tenant = ? AND expires_at <= ?", entry.tenant, now);
    this.insert("INSERT", entry, now);
    return { ok: true, fresh: true };
  }

  /**
   * Takes up to `limit` due jobs for one pass, round-robin across tenants and across passes: the
   * tenant served longest ago (ties by its oldest job) gets its oldest due job, and is then last in
   * line; a tenant new to the queue starts last in line; tenants with nothing due keep their place. A pass whose tenants
   * run out goes round them again. Each turn walks tenants in that order and stops at its limit, so
   * a pass costs about one index probe per tenant visited, however many jobs are queued. Taken
   * entries are not offered to another pass for `holdMs` (the lease time), so overlapping passes do
   * not spend their share on jobs already running; the job's lease still decides who runs it.
   */
  take(now: number, limit: number, holdMs: number): QueueEntry[] {
    const expired = this.sql
      .exec<{ tenant: string }>("DELETE FROM queue WHERE expires_at <= ? RETURNING tenant", now)
      .toArray();
    for (const tenant of new Set(expired.map((row) => row.tenant))) this.forget(tenant);
    let seq = this.sql.exec<{ seq: number }>("SELECT COALESCE(MAX(seq), 0) AS seq FROM served").one().seq;
    const picked: QueueEntry[] = [];
    while (picked.length < limit) {
      const turn = this.sql
        .exec<{ id: string; tenant: string; run_at: number; admitted_at: number }>(
          `SELECT q.id, q.tenant, q.run_at, q.admitted_at FROM served s
           JOIN queue q ON q.id = (
             SELECT id FROM queue WHERE tenant = s.tenant AND run_at <= ?1 AND taken_until <= ?1
             ORDER BY run_at, id LIMIT 1)
           ORDER BY s.seq, s.since LIMIT ?2`,
          now,
          limit - picked.length,
        )
        .toArray();
      if (turn.length === 0) break;
      for (const row of turn) {
        seq += 1;
        this.sql.exec("UPDATE queue SET taken_until = ? WHERE id = ?", now + holdMs, row.id);
        this.sql.exec("UPDATE served SET seq = ? WHERE tenant = ?", seq, row.tenant);
        picked.push({ id: row.id, tenant: row.tenant, runAt: row.run_at, admittedAt: row.admitted_at });
      }
    }
    return picked;
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
    const gone = this.sql.exec<{ tenant: string }>("DELETE FROM queue WHERE id = ? RETURNING tenant", id).toArray()[0];
    if (gone) this.forget(gone.tenant);
  }

  /** Writes a queue entry and makes its tenant known to the pick. */
  private insert(verb: "INSERT" | "INSERT OR IGNORE", entry: NewEntry, now: number): void {
    this.sql.exec(
      `${verb} INTO queue (id, tenant, run_at, expires_at, taken_until, admitted_at, fingerprint) VALUES (?, ?, ?, ?, 0, ?, ?)`,
      entry.id,
      entry.tenant,
      entry.runAt,
      entry.expiresAt,
      now,
      entry.fingerprint,
    );
    this.track(entry.tenant, entry.runAt);
  }

  /** Queues a job found only in the old KV due index, outside any cap (cleanup's migration). */
  restore(entry: NewEntry, now: number): void {
    this.insert("INSERT OR IGNORE", entry, now);
  }

  /** A tenant's unfinished jobs as counted against its cap (tests and support). */
  pending(tenant: string, now: number): number {
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM queue WHERE tenant = ? AND expires_at > ?", tenant, now)
      .one().n;
  }

  /**
   * The tenant has a queued job. One new to the queue joins the back of the line, as if served
   * last: a tenant that drains its queue and comes back must not go ahead of those still waiting,
   * or a few tenants keeping one job each queued would take every place of every pass. (Before
   * anyone is served, everyone is at 0 and goes oldest job first.)
   */
  private track(tenant: string, runAt: number): void {
    this.sql.exec(
      `INSERT INTO served (tenant, since, seq) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) FROM served))
       ON CONFLICT (tenant) DO UPDATE SET since = MIN(since, excluded.since) WHERE seq = 0`,
      tenant,
      runAt,
    );
  }

  /** Keeps the table to tenants with queued jobs; one that comes back later is new again. */
  private forget(tenant: string): void {
    this.sql.exec(
      "DELETE FROM served WHERE tenant = ?1 AND NOT EXISTS (SELECT 1 FROM queue WHERE tenant = ?1)",
      tenant,
    );
  }
}
