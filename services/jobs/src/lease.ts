import { DurableObject } from "cloudflare:workers";

/** What acquiring a job's lease answered. */
export type LeaseGrant =
  | { ok: true; attempts: number }
  | { ok: false; reason: "leased"; holder: string; until: number }
  | { ok: false; reason: "finished"; outcome: string };

type LeaseRow = { holder: string | null; until: number; attempts: number; outcome: string | null };

/**
 * The one place that decides who may run a job, one object per job id. KV has no compare-and-set
 * and reads may lag, so the runner asks here first: a job is leased to one runner at a time, a
 * lease that outlives its runner expires, attempts are counted here, and a finished (or cancelled)
 * job can never be leased again, whatever a stale KV read says.
 */
export class JobLease extends DurableObject<JobsEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: JobsEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, until INTEGER NOT NULL, attempts INTEGER NOT NULL, outcome TEXT)",
    );
    this.sql.exec("INSERT OR IGNORE INTO lease (id, holder, until, attempts, outcome) VALUES (1, NULL, 0, 0, NULL)");
  }

  private row(): LeaseRow {
    return this.sql.exec<LeaseRow>("SELECT holder, until, attempts, outcome FROM lease WHERE id = 1").one();
  }

  /**
   * Leases the job to `holder` until `now + ttlMs`, unless another holds it or it is done. Returns
   * the attempts started so far; taking the lease alone does not count one (see {@link start}).
   */
  acquire(holder: string, now: number, ttlMs: number): LeaseGrant {
    const row = this.row();
    if (row.outcome !== null) return { ok: false, reason: "finished", outcome: row.outcome };
    if (row.holder !== null && row.holder !== holder && row.until > now) {
      return { ok: false, reason: "leased", holder: row.holder, until: row.until };
    }
    this.sql.exec("UPDATE lease SET holder = ?, until = ? WHERE id = 1", holder, now + ttlMs);
    return { ok: true, attempts: row.attempts };
  }

  /** Counts the attempt the holder is starting now; 0 if it does not hold the lease. */
  start(holder: string): number {
    const row = this.row();
    if (row.holder !== holder) return 0;
    this.sql.exec("UPDATE lease SET attempts = attempts + 1 WHERE id = 1");
    return row.attempts + 1;
  }

  /** Gives the lease back without finishing (a retry is scheduled). */
  release(holder: string): boolean {
    const row = this.row();
    if (row.holder !== holder) return false;
    this.sql.exec("UPDATE lease SET holder = NULL, until = 0 WHERE id = 1");
    return true;
  }

  /** Marks the job finished; only its current holder may. */
  finish(holder: string, outcome: "succeeded" | "failed"): boolean {
    const row = this.row();
    if (row.holder !== holder || row.outcome !== null) return false;
    this.sql.exec("UPDATE lease SET holder = NULL, until = 0, outcome = ? WHERE id = 1", outcome);
    return true;
  }

  /**
   * Takes the job for an owner's change (cancel, new input): refused while a runner holds it.
   * `cancel` finishes it for good; otherwise the short lease is released by {@link release}.
   */
  claimForChange(holder: string, now: number, cancel: boolean): LeaseGrant {
    const row = this.row();
    if (row.outcome !== null) return { ok: false, reason: "finished", outcome: row.outcome };
    if (row.holder !== null && row.until > now)
      return { ok: false, reason: "leased", holder: row.holder, until: row.until };
    if (cancel) {
      this.sql.exec("UPDATE lease SET holder = NULL, until = 0, outcome = 'cancelled' WHERE id = 1");
    } else {
      this.sql.exec("UPDATE lease SET holder = ?, until = ? WHERE id = 1", holder, now + 10_000);
    }
    return { ok: true, attempts: row.attempts };
  }

  /** Forgets everything: a new job is being created under this id. */
  reset(): void {
    this.sql.exec("UPDATE lease SET holder = NULL, until = 0, attempts = 0, outcome = NULL WHERE id = 1");
  }

  /** The lease as stored (tests and support). */
  state(): LeaseRow {
    return this.row();
  }
}
