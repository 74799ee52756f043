import {
  ADMIN_IDENTITY,
  type CallContext,
  CreateJobRequest,
  clientIdempotencyKey,
  type Identity,
  JOB_STATUSES,
  type JobCleanupResult,
  type JobRunReport,
  type JobSummary,
  type JobView,
  logEvent,
  parseInput,
  requireAdmin,
  ServiceError,
  sha256Hex,
  UpdateJobRequest,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import * as v from "valibot";
import { jobSettings } from "./config";
import { kindOf } from "./kinds";
import type { LeaseGrant, LeaseOpening } from "./lease";
import { type JobQueue, jobQueue } from "./queue";
import { runDue } from "./runner";
import {
  getRow,
  isFinished,
  type JobRow,
  listOwned,
  migrateDueIndex,
  pendingExpiry,
  saveRow,
  transition,
  view,
} from "./store";

const ListQuery = v.object({
  status: v.optional(v.picklist(JOB_STATUSES, `status must be one of ${JOB_STATUSES.join(", ")}`)),
  limit: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1), v.maxValue(100))),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(2000))),
});

const ID = /^[a-f0-9-]{32,36}$/;
/**
 * How long after a job finished a keyed re-create that finds no row is refused rather than run
 * anew. KV can miss a row written moments ago (a cached negative lookup, another location: about
 * 60 s); a row still missing after this is gone for good, and the key starts a new, billed job.
 */
const KV_LAG_MS = 5 * 60_000;
/** Attempts of an hourly rollup: with the backoff (30 s doubling) they span about half an hour. */
const ROLLUP_ATTEMPTS = 6;

function notFound(): ServiceError {
  return new ServiceError("not_found", "no such job");
}

/**
 * KV-indexed jobs and their runner. Rows live in KV (`job:<id>`, with an owner index key); which
 * unfinished jobs there are, and which are due, live in the {@link JobQueue}; who may run a job,
 * and how many times it has started, live in its {@link JobLease}.
 */
export class JobsService extends MeshEntrypoint<JobsEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "jobs"; ok: true }> {
    return { service: "jobs", ok: true };
  }

  /**
   * Creates a job. Unknown kinds and invalid input are refused now (400), not discovered later; a
   * `run_at` in the past means now. With an idempotency key, the same request returns the same job;
   * a different one is 422; while that job's row is not readable yet (KV lags its writes) it is 409
   * with `retry_after`. A tenant with `JOBS_MAX_PENDING` unfinished jobs is refused (429).
   */
  async create(
    input: unknown,
    identity: Identity,
    clientKey: string | null,
    call: CallContext,
  ): Promise<{ job: JobView; created: boolean }> {
    const idempotencyKey = clientIdempotencyKey(clientKey);
    const body = parseInput(CreateJobRequest, input);
    const kind = kindOf(body.kind);
    if (kind.adminOnly && !identity.admin) throw new ServiceError("forbidden", `${body.kind} jobs are for admins`);
    const jobInput = kind.validate(body.input);
    const settings = jobSettings(this.env);
    const now = Date.now();
    const requested = body.run_at === undefined ? now : Date.parse(body.run_at);
    // Some ISO 8601 forms pass the format check but not Date.parse: refuse them here, not later.
    if (Number.isNaN(requested))
      throw new ServiceError(
        "invalid_input",
        "run_at is not a time this service can read; use e.g. 2026-12-01T09:00:00Z",
        { issues: [{ path: "run_at", message: "unreadable time" }] },
      );
    if (requested > now + 366 * 86_400_000)
      throw new ServiceError("invalid_input", "run_at is more than a year away", {
        issues: [{ path: "run_at", message: "too far ahead" }],
      });
    // A time in the past would queue the job ahead of every tenant's earlier ones: it means now.
    const runAt = Math.max(requested, now);
    const fingerprint = JSON.stringify({
      kind: body.kind,
      input: jobInput,
      run_at: body.run_at ?? null,
      max_attempts: body.max_attempts ?? null,
    });
    let id: string = crypto.randomUUID();
    if (idempotencyKey !== null) {
      // The same owner and key always name the same job.
      id = (await sha256Hex(`${identity.sub}\n${idempotencyKey}`)).slice(0, 32);
      const existing = await getRow(this.env.KV_BILLING, id);
      if (existing) {
        if (existing.fingerprint !== fingerprint)
          throw new ServiceError("idempotency_mismatch", "this Idempotency-Key was used for a different job");
        return { job: view(existing), created: false };
      }
    }
    const owner: Identity = identity.email
      ? { sub: identity.sub, email: identity.email, source: identity.source, admin: identity.admin }
      : { sub: identity.sub, source: identity.source, admin: identity.admin };
    const row: JobRow = transition(
      {
        id,
        owner,
        kind: body.kind,
        input: jobInput,
        status: "pending",
        attempts: 0,
        max_attempts: body.max_attempts ?? 3,
        run_at: runAt,
        created_at: now,
        updated_at: now,
        history: [],
        nonce: crypto.randomUUID(),
        ...(idempotencyKey !== null ? { fingerprint } : {}),
      },
      "pending",
      now,
      `created by request ${call.requestId}`,
    );
    const fingerprintHash = idempotencyKey === null ? null : await sha256Hex(fingerprint);
    const queue = jobQueue(this.env);
    // The queue counts and admits in one step, so concurrent creates cannot overrun the cap.
    const admission = await queue.admit(
      { id, tenant: owner.sub, runAt, expiresAt: pendingExpiry(settings, row), fingerprint: fingerprintHash },
      identity.admin ? null : settings.maxPending,
      now,
    );
    if (!admission.ok) {
      throw new ServiceError(
        "rate_limited",
        `at most ${settings.maxPending} jobs may wait or run at once; cancel one or retry when one finishes`,
        { retry_after: admission.retryAfter, limit: settings.maxPending },
      );
    }
    if (!admission.fresh) {
      // Another create under the same key got there first and its row may not be readable yet.
      if (admission.fingerprint !== fingerprintHash)
        throw new ServiceError("idempotency_mismatch", "this Idempotency-Key was used for a different job");
      const current = await getRow(this.env.KV_BILLING, id);
      if (current) return { job: view(current), created: false };
      throw new ServiceError("conflict", "a job with this Idempotency-Key is being created; retry shortly");
    }
    try {
      if (idempotencyKey !== null) {
        // The key's earlier job, if any, is not queued, so it finished or expired. Only the lease
        // knows which for sure: KV may miss a row written moments ago, and taking a job finished
        // just now for a pruned one would run (and bill) it again under a new nonce.
        const opening = (await this.env.JOB_LEASE.get(this.env.JOB_LEASE.idFromName(id)).open(
          fingerprintHash,
          now,
          Math.min(KV_LAG_MS, settings.ttlSeconds * 1000),
        )) as LeaseOpening;
        if (!opening.ok) {
          if (opening.fingerprint !== null && opening.fingerprint !== fingerprintHash)
            throw new ServiceError("idempotency_mismatch", "this Idempotency-Key was used for a different job");
          throw new ServiceError(
            "conflict",
            `the job with this Idempotency-Key has ${opening.outcome === "cancelled" ? "been cancelled" : opening.outcome} and is not readable yet; retry shortly`,
            { retry_after: 60 },
          );
        }
      }
      await saveRow(this.env.KV_BILLING, row, settings);
    } catch (error) {
      // Not created: give the place back rather than leave an entry with no row.
      await queue.remove(id).catch(() => undefined);
      throw error;
    }
    return { job: view(row), created: true };
  }

  private async owned(id: string, identity: Identity): Promise<JobRow> {
    if (!ID.test(id)) throw notFound();
    const row = await getRow(this.env.KV_BILLING, id);
    // Someone else's job is indistinguishable from no job.
    if (!row || (row.owner.sub !== identity.sub && !identity.admin)) throw notFound();
    return row;
  }

  /** One of the caller's jobs; anyone else's id is 404. */
  async get(id: string, identity: Identity, _call: CallContext): Promise<JobView> {
    return view(await this.owned(id, identity));
  }

  /**
   * The caller's jobs, newest first, optionally of one status, as list views: no `input`, `result`
   * or `history`, which {@link get} has.
   */
  async list(
    query: unknown,
    identity: Identity,
    _call: CallContext,
  ): Promise<{ jobs: JobSummary[]; cursor: string | null }> {
    const { status, limit = 20, cursor } = parseInput(ListQuery, query ?? {});
    return listOwned(this.env.KV_BILLING, identity.sub, status, limit, cursor);
  }

  /**
   * Cancels a job, or replaces its input while it is still pending. A job a runner holds right now
   * is 409; a finished one is 409 too.
   */
  async update(id: string, input: unknown, identity: Identity, call: CallContext): Promise<JobView> {
    const change = parseInput(UpdateJobRequest, input);
    const row = await this.owned(id, identity);
    const cancel = "action" in change;
    const newInput = "input" in change ? kindOf(row.kind).validate(change.input) : undefined;
    const holder = `update:${call.requestId}`;
    const lease = this.env.JOB_LEASE.get(this.env.JOB_LEASE.idFromName(id));
    const settings = jobSettings(this.env);
    const grant = (await lease.claimForChange(holder, Date.now(), cancel, settings.ttlSeconds * 1000)) as LeaseGrant;
    if (!grant.ok) {
      throw new ServiceError(
        "conflict",
        grant.reason === "leased"
          ? "the job is running now"
          : `the job has already ${grant.outcome === "cancelled" ? "been cancelled" : grant.outcome}`,
      );
    }
    // Re-read under the lease: the runner may have moved it on since.
    const current = (await getRow(this.env.KV_BILLING, id)) ?? row;
    const now = Date.now();
    if (cancel) {
      const cancelled = transition(current, "cancelled", now, `cancelled by request ${call.requestId}`);
      await saveRow(this.env.KV_BILLING, cancelled, settings);
      await jobQueue(this.env).remove(id);
      return view(cancelled);
    }
    try {
      if (current.status !== "pending")
        throw new ServiceError("conflict", `the job is ${current.status}; only a pending job's input can change`);
      const edited = transition(
        { ...current, input: newInput },
        "pending",
        now,
        `input replaced by request ${call.requestId}`,
      );
      await saveRow(this.env.KV_BILLING, edited, settings);
      return view(edited);
    } finally {
      await lease.release(holder);
    }
  }

  /** Admin: runs the due jobs now and reports what happened to each. */
  async run(identity: Identity, call: CallContext): Promise<{ ran: JobRunReport[] }> {
    requireAdmin(identity);
    return this.runDueAt(call, Date.now());
  }

  /** One runner pass over the jobs due at `now`, at most `JOBS_RUN_LIMIT` of them. */
  private async runDueAt(call: CallContext, now: number): Promise<{ ran: JobRunReport[] }> {
    const settings = jobSettings(this.env);
    const ran = await runDue(
      this.env,
      settings,
      { now, limit: settings.runLimit, runner: `runner:${crypto.randomUUID()}`, requestId: call.requestId },
      () => this.cleanupNow(call, Date.now()),
    );
    return { ran };
  }

  /** Admin `POST /api/admin/cleanup`: prunes stale jobs and expired usage events, with counts. */
  async cleanup(identity: Identity, call: CallContext): Promise<JobCleanupResult> {
    requireAdmin(identity);
    return this.cleanupNow(call, Date.now());
  }

  private async cleanupNow(call: CallContext, now: number): Promise<JobCleanupResult> {
    const settings = jobSettings(this.env);
    const kv = this.env.KV_BILLING;
    const cutoff = now - settings.ttlSeconds * 1000;
    let jobsDeleted = 0;
    let dueKeysDeleted = 0;
    let scanned = 0;
    // Finished rows past their TTL (written before a TTL applied).
    let cursor: string | undefined;
    do {
      const page = await kv.list({ prefix: "job:", limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const key of page.keys) {
        scanned += 1;
        const row = await kv.get<JobRow>(key.name, "json");
        if (row && isFinished(row.status) && row.updated_at < cutoff) {
          await kv.delete(key.name);
          jobsDeleted += 1;
        }
      }
      cursor = page.list_complete || scanned >= 5000 ? undefined : page.cursor;
    } while (cursor);
    // What is left of the due index written before the queue.
    do {
      const page = await migrateDueIndex(this.env, settings, now, 1000, cursor);
      scanned += page.scanned;
      dueKeysDeleted += page.deleted;
      cursor = scanned >= 5000 ? undefined : page.cursor;
    } while (cursor);
    const usage = await this.env.BILLING.pruneUsage(ADMIN_IDENTITY, call);
    return {
      jobs_deleted: jobsDeleted,
      due_keys_deleted: dueKeysDeleted,
      usage_events_deleted: usage.deleted,
      complete: scanned < 5000 && usage.complete,
    };
  }

  /**
   * The cron trigger: one runner pass a minute, after making sure this hour's `usage.rollup` job
   * exists (one per hour, keyed by the hour: every pass of the hour finds the same job, and a pass
   * that was missed is made up by the next). Reports what ran, as `run` does.
   */
  async runScheduled(controller: Pick<ScheduledController, "scheduledTime">): Promise<{ ran: JobRunReport[] }> {
    const cron: Identity = { sub: "cron", source: "admin", admin: true };
    const call = { requestId: `cron:${controller.scheduledTime}` };
    const hour = new Date(controller.scheduledTime).toISOString().slice(0, 13);
    try {
      await this.create({ kind: "usage.rollup", max_attempts: ROLLUP_ATTEMPTS }, cron, `usage.rollup:${hour}`, call);
    } catch (error) {
      // A KV hiccup must not stop the other jobs; the next pass of the hour creates it.
      logEvent("warn", "hourly rollup job not created", { request_id: call.requestId, error });
    }
    // The job was made just now, a moment after the minute the pass is scheduled for: it runs in this pass.
    const result = await this.runDueAt(call, Math.max(controller.scheduledTime, Date.now()));
    logEvent("info", "cron run", {
      request_id: call.requestId,
      ran: result.ran.length,
      outcomes: result.ran.map((r) => r.outcome),
    });
    return result;
  }
}

export { JobLease } from "./lease";
export { JobQueue } from "./queue";

/** Internal workers have no HTTP surface; the cron trigger runs the due jobs. */
/** What other workers bind to (`"entrypoint": "JobsEntrypoint"`): JobsService, answering refusals as values. */
export const JobsEntrypoint = refusingEntrypoint<JobsEnv, typeof JobsService>(JobsService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
  async scheduled(controller, env, ctx): Promise<void> {
    await new JobsService(ctx, env).runScheduled(controller);
  },
} satisfies ExportedHandler<JobsEnv>;
