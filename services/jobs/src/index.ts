import { WorkerEntrypoint } from "cloudflare:workers";
import {
  type CallContext,
  CreateJobRequest,
  type Identity,
  JOB_STATUSES,
  type JobRunReport,
  type JobView,
  parseInput,
  requireAdmin,
  ServiceError,
  UpdateJobRequest,
} from "@cognomega/shared";
import * as v from "valibot";
import { jobSettings } from "./config";
import { kindOf } from "./kinds";
import type { LeaseGrant } from "./lease";
import { runDue } from "./runner";
import {
  DUE_PREFIX,
  deleteDue,
  getRow,
  isFinished,
  type JobRow,
  listOwned,
  parseDue,
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

function notFound(): ServiceError {
  return new ServiceError("not_found", "no such job");
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * KV-indexed jobs and their runner. Rows live in KV (`job:<id>`, with owner and due-time index
 * keys); who may run a job, and how many times it has started, live in its {@link JobLease}.
 */
export class JobsService extends WorkerEntrypoint<JobsEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "jobs"; ok: true }> {
    return { service: "jobs", ok: true };
  }

  /**
   * Creates a job. Unknown kinds and invalid input are refused now (400), not discovered later.
   * With an idempotency key, the same request returns the same job; a different one is 422.
   */
  async create(
    input: unknown,
    identity: Identity,
    idempotencyKey: string | null,
    call: CallContext,
  ): Promise<{ job: JobView; created: boolean }> {
    const body = parseInput(CreateJobRequest, input);
    const kind = kindOf(body.kind);
    if (kind.adminOnly && !identity.admin) throw new ServiceError("forbidden", `${body.kind} jobs are for admins`);
    const jobInput = kind.validate(body.input);
    const now = Date.now();
    const runAt = body.run_at === undefined ? now : Date.parse(body.run_at);
    // Some ISO 8601 forms pass the format check but not Date.parse: refuse them here, not later.
    if (Number.isNaN(runAt))
      throw new ServiceError(
        "invalid_input",
        "run_at is not a time this service can read; use e.g. 2026-12-01T09:00:00Z",
        { issues: [{ path: "run_at", message: "unreadable time" }] },
      );
    if (runAt > now + 366 * 86_400_000)
      throw new ServiceError("invalid_input", "run_at is more than a year away", {
        issues: [{ path: "run_at", message: "too far ahead" }],
      });
    const fingerprint = JSON.stringify({
      kind: body.kind,
      input: jobInput,
      run_at: body.run_at ?? null,
      max_attempts: body.max_attempts ?? null,
    });
    let id: string = crypto.randomUUID();
    if (idempotencyKey !== null) {
      if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey))
        throw new ServiceError("invalid_input", "Idempotency-Key must be 1-255 visible ASCII characters");
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
        run_at: Math.max(runAt, 0),
        created_at: now,
        updated_at: now,
        history: [],
        ...(idempotencyKey !== null ? { fingerprint } : {}),
      },
      "pending",
      now,
      `created by request ${call.requestId}`,
    );
    if (idempotencyKey !== null) {
      // The same key may come back after the earlier job was pruned: start its lease afresh.
      await this.env.JOB_LEASE.get(this.env.JOB_LEASE.idFromName(id)).reset();
    }
    await saveRow(this.env.KV_BILLING, row, jobSettings(this.env).ttlSeconds);
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

  /** The caller's jobs, newest first, optionally of one status. */
  async list(
    query: unknown,
    identity: Identity,
    _call: CallContext,
  ): Promise<{ jobs: JobView[]; cursor: string | null }> {
    const { status, limit = 20, cursor } = parseInput(ListQuery, query ?? {});
    const page = await listOwned(this.env.KV_BILLING, identity.sub, status, limit, cursor);
    return { jobs: page.jobs.map(view), cursor: page.cursor };
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
    const grant = (await lease.claimForChange(holder, Date.now(), cancel)) as LeaseGrant;
    if (!grant.ok) {
      throw new ServiceError(
        "conflict",
        grant.reason === "leased"
          ? "the job is running now"
          : `the job has already ${grant.outcome === "cancelled" ? "been cancelled" : grant.outcome}`,
      );
    }
    const settings = jobSettings(this.env);
    // Re-read under the lease: the runner may have moved it on since.
    const current = (await getRow(this.env.KV_BILLING, id)) ?? row;
    const now = Date.now();
    if (cancel) {
      const cancelled = transition(current, "cancelled", now, `cancelled by request ${call.requestId}`);
      await saveRow(this.env.KV_BILLING, cancelled, settings.ttlSeconds);
      await deleteDue(this.env.KV_BILLING, current.run_at, id);
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
      await saveRow(this.env.KV_BILLING, edited, settings.ttlSeconds);
      return view(edited);
    } finally {
      await lease.release(holder);
    }
  }

  /**
   * Admin: runs the due jobs now and reports what happened to each. `now` and `runner` are for
   * tests and the cron; the route passes neither.
   */
  async run(
    identity: Identity,
    call: CallContext,
    options: { now?: number; runner?: string; limit?: number } = {},
  ): Promise<{ ran: JobRunReport[] }> {
    requireAdmin(identity);
    const settings = jobSettings(this.env);
    const ran = await runDue(
      this.env,
      settings,
      {
        now: options.now ?? Date.now(),
        limit: options.limit ?? settings.runLimit,
        runner: options.runner ?? `runner:${crypto.randomUUID()}`,
        requestId: call.requestId,
      },
      () => this.cleanupNow(call),
    );
    return { ran };
  }

  /** Admin `POST /api/admin/cleanup`: prunes stale jobs and expired usage events, with counts. */
  async cleanup(identity: Identity, call: CallContext): Promise<Record<string, number | boolean>> {
    requireAdmin(identity);
    return this.cleanupNow(call);
  }

  private async cleanupNow(call: CallContext): Promise<Record<string, number | boolean>> {
    const settings = jobSettings(this.env);
    const kv = this.env.KV_BILLING;
    const cutoff = Date.now() - settings.ttlSeconds * 1000;
    let jobsDeleted = 0;
    let dueKeysDeleted = 0;
    let scanned = 0;
    // Finished rows past their TTL (written before a TTL applied) and due keys of gone or finished jobs.
    for (const prefix of ["job:", DUE_PREFIX]) {
      let cursor: string | undefined;
      do {
        const page = await kv.list({ prefix, limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const key of page.keys) {
          scanned += 1;
          if (prefix === "job:") {
            const row = await kv.get<JobRow>(key.name, "json");
            if (row && isFinished(row.status) && row.updated_at < cutoff) {
              await kv.delete(key.name);
              jobsDeleted += 1;
            }
          } else {
            const due = parseDue(key.name);
            const row = due ? await getRow(kv, due.id) : null;
            if (row?.status !== "pending" || row.run_at !== due?.runAt) {
              await kv.delete(key.name);
              dueKeysDeleted += 1;
            }
          }
        }
        cursor = page.list_complete || scanned >= 5000 ? undefined : page.cursor;
      } while (cursor);
    }
    const usage = await this.env.BILLING.pruneUsage({ sub: "admin", source: "admin", admin: true }, call);
    return {
      jobs_deleted: jobsDeleted,
      due_keys_deleted: dueKeysDeleted,
      usage_events_deleted: usage.deleted,
      complete: scanned < 5000 && usage.complete,
    };
  }

  /** The cron trigger: one runner pass a minute. */
  async runScheduled(controller: ScheduledController): Promise<void> {
    const result = await this.run(
      { sub: "cron", source: "admin", admin: true },
      { requestId: `cron:${controller.scheduledTime}` },
      { now: controller.scheduledTime },
    );
    console.log(
      JSON.stringify({
        level: "info",
        msg: "cron run",
        ran: result.ran.length,
        outcomes: result.ran.map((r) => r.outcome),
      }),
    );
  }
}

export { JobLease } from "./lease";

/** Internal workers have no HTTP surface; the cron trigger runs the due jobs. */
export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
  async scheduled(controller, env, ctx): Promise<void> {
    await new JobsService(ctx, env).runScheduled(controller);
  },
} satisfies ExportedHandler<JobsEnv>;
