import { DurableObject } from "cloudflare:workers";

/** What acquiring a job's lease answered. */
export type LeaseGrant =
  | { ok: true; attempts: number }
  | { ok: false; reason: "leased"; holder: string; until: number }
  | { ok: false; reason: "finished"; outcome: string };

/** What opening a job's lease for a new job answered. */
export type LeaseOpening =
  | { ok: true }
  /** A job under this id finished recently enough that its row may still exist (see {@link JobLease.open}). */
  | { ok: false; outcome: string; fingerprint: string | null };

type LeaseRow = {
  holder: string | null;
  until: number;
  attempts: number;
  outcome: string | null;
  /** When the job finished (epoch ms); null while unfinished, and for jobs finished before it was kept. */
  finished_at: number | null;
  /** When its finished row expires (`finished_at` + `JOBS_TTL_DAYS` as it was then). */
  kept_until: number | null;
  /** The hash of the job's idempotency fingerprint, if it was created under a key. */
  fingerprint: string | null;
};

/** Columns added after the first version, added in place to older objects. */
const LATER_COLUMNS = ["finished_at INTEGER", "kept_until INTEGER", "fingerprint TEXT"];

/**
 * Creates the lease table, or gives one from an older version the columns added since (a lease
 * that finished before then keeps no finish time). Safe to run again.
 */
export function migrateLease(sql: SqlStorage): void {
  sql.exec(
    "CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, until INTEGER NOT NULL, attempts INTEGER NOT NULL, outcome TEXT)",
  );
  const columns = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM pragma_table_info('lease')")
      .toArray()
      .map((column) => column.name),
  );
  for (const column of LATER_COLUMNS) {
    if (!columns.has(column.split(" ")[0] as string)) sql.exec(`ALTER TABLE lease ADD COLUMN ${column}`);
  }
  sql.exec("INSERT OR IGNORE INTO lease (id, holder, until, attempts, outcome) VALUES (1, NULL, 0, 0, NULL)");
}

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
    migrateLease(this.sql);
  }

  private row(): LeaseRow {
    return this.sql
      .exec<LeaseRow>(
        "SELECT holder, until, attempts, outcome, finished_at, kept_until, fingerprint FROM lease WHERE id = 1",
      )
      .one();
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

  /**
   * Gives the lease back without finishing (a retry is scheduled). `uncount` takes back the attempt
   * the holder started, for an attempt refused before it did any work.
   */
  release(holder: string, uncount = false): boolean {
    const row = this.row();
    if (row.holder !== holder) return false;
    this.sql.exec(
      "UPDATE lease SET holder = NULL, until = 0, attempts = MAX(0, attempts - ?) WHERE id = 1",
      uncount ? 1 : 0,
    );
    return true;
  }

  /**
   * Marks the job finished at `finishedAt` (its row's `updated_at`), its row kept `keepMs`; only its
   * current holder may.
   */
  finish(holder: string, outcome: "succeeded" | "failed", finishedAt: number, keepMs: number): boolean {
    const row = this.row();
    if (row.holder !== holder || row.outcome !== null) return false;
    this.finished(outcome, finishedAt, keepMs);
    return true;
  }

  private finished(outcome: string, finishedAt: number, keepMs: number): void {
    this.sql.exec(
      "UPDATE lease SET holder = NULL, until = 0, outcome = ?, finished_at = ?, kept_until = ? WHERE id = 1",
      outcome,
      finishedAt,
      finishedAt + keepMs,
    );
  }

  /**
   * Takes the job for an owner's change (cancel, new input): refused while a runner holds it.
   * `cancel` finishes it for good (its row kept `keepMs`); otherwise the short lease is released by
   * {@link release}.
   */
  claimForChange(holder: string, now: number, cancel: boolean, keepMs: number): LeaseGrant {
    const row = this.row();
    if (row.outcome !== null) return { ok: false, reason: "finished", outcome: row.outcome };
    if (row.holder !== null && row.until > now)
      return { ok: false, reason: "leased", holder: row.holder, until: row.until };
    if (cancel) {
      this.finished("cancelled", now, keepMs);
    } else {
      this.sql.exec("UPDATE lease SET holder = ?, until = ? WHERE id = 1", holder, now + 10_000);
    }
    return { ok: true, attempts: row.attempts };
  }

  /**
   * Starts the lease afresh for a new job under this id (one created under an idempotency key whose
   * earlier job is not in the queue), unless the earlier job finished less than `keepMs` (KV's
   * lag, a few minutes) ago and before its row's own expiry: then its row may still exist, and the
   * create that read it as missing read KV before that row reached it. Such a create must not become a new,
   * billed run, so nothing changes and the caller refuses it. Leases that finished before their
   * finish time was kept are started afresh, as before.
   */
  open(fingerprint: string | null, now: number, keepMs: number): LeaseOpening {
    const row = this.row();
    if (
      row.outcome !== null &&
      row.finished_at !== null &&
      now < Math.min(row.finished_at + keepMs, row.kept_until ?? Number.POSITIVE_INFINITY)
    ) {
      return { ok: false, outcome: row.outcome, fingerprint: row.fingerprint };
    }
    this.sql.exec(
      "UPDATE lease SET holder = NULL, until = 0, attempts = 0, outcome = NULL, finished_at = NULL, kept_until = NULL, fingerprint = ? WHERE id = 1",
      fingerprint,
    );
    return { ok: true };
  }

  /** The lease as stored (tests and support). */
  state(): LeaseRow {
    return this.row();
  }
}
