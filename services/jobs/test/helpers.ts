import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import type { Identity } from "@cognomega/shared";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { env } from "../../../test-support/mesh-env";
import { JobsService } from "../src/index";

export const call = { requestId: "jobs-test-request" };
export const admin: Identity = { sub: "admin", source: "admin", admin: true };

export function jobs(overrides: Partial<JobsEnv> = {}): JobsService {
  return new JobsService(createExecutionContext(), { ...env, ...overrides });
}

/** A new guest account with its starter credits, through the real billing worker. */
export async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/**
 * Moves the times a finished job's lease remembers `ms` into the past, as if the job finished that
 * long ago: with its row gone too, the same as a job pruned after `JOBS_TTL_DAYS`.
 */
export async function agedLease(id: string, ms: number): Promise<void> {
  await runInDurableObject(env.JOB_LEASE.get(env.JOB_LEASE.idFromName(id)), async (_instance, state) => {
    state.storage.sql.exec("UPDATE lease SET finished_at = finished_at - ?, kept_until = kept_until - ?", ms, ms);
  });
}

/** The cron trigger's controller for a pass scheduled at `ms`: how tests run the jobs due at a later time. */
export function cronAt(ms: number): Pick<ScheduledController, "scheduledTime"> {
  return { scheduledTime: ms };
}

/** Moves a job row's last change `ms` into the past, as if it finished that long ago. */
export async function agedRow(id: string, ms: number): Promise<void> {
  const row = await env.KV_BILLING.get<{ updated_at: number }>(`job:${id}`, "json");
  if (!row) throw new Error(`no row for job ${id}`);
  await env.KV_BILLING.put(`job:${id}`, JSON.stringify({ ...row, updated_at: row.updated_at - ms }));
}
