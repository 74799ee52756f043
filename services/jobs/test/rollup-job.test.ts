import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { type Identity, ServiceError, sha256Hex } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { env } from "../../../test-support/mesh-env";
import worker from "../src/index";
import { admin, call, codeOf, cronAt, jobs } from "./helpers";

const cron: Identity = { sub: "cron", source: "admin", admin: true };
const HOUR_MS = 3_600_000;

/** The id of the hourly rollup job the cron makes for the hour `at` falls in. */
async function hourlyJobId(at: number): Promise<string> {
  const hour = new Date(at).toISOString().slice(0, 13);
  return (await sha256Hex(`cron\nusage.rollup:${hour}`)).slice(0, 32);
}

async function cronPass(scheduledTime: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("usage.rollup jobs", () => {
  it("are created once an hour by the cron, and run the scheduled rollup", async () => {
    const now = Date.now();
    await cronPass(now);
    await cronPass(now + 1_000);
    const job = await jobs().get(await hourlyJobId(now), cron, call);
    expect(job).toMatchObject({ kind: "usage.rollup", status: "succeeded", max_attempts: 6 });
    // The rollup of the lookback and the open hour at least (the run's own PostgreSQL).
    expect((job.result as { hours: number }).hours).toBeGreaterThanOrEqual(1);
    // The next hour gets a job of its own.
    expect(await hourlyJobId(now + HOUR_MS)).not.toBe(job.id);
  });

  it("are for admins only, and take no input", async () => {
    const user: Identity = { sub: "guest:rollup-nobody", source: "jwt", admin: false };
    expect(await codeOf(jobs().create({ kind: "usage.rollup" }, user, null, call))).toBe("forbidden");
    expect(await codeOf(jobs().create({ kind: "usage.rollup", input: { hours: 99 } }, admin, null, call))).toBe(
      "invalid_input",
    );
  });

  it("retry with backoff while the database is down, then succeed", async () => {
    let down = true;
    const analytics = {
      rollupScheduled: (...args: Parameters<JobsEnv["ANALYTICS"]["rollupScheduled"]>) => {
        if (down) throw new ServiceError("upstream_unavailable", "the analytics database is unavailable");
        return env.ANALYTICS.rollupScheduled(...args);
      },
    } as unknown as JobsEnv["ANALYTICS"];
    const { job } = await jobs().create({ kind: "usage.rollup", max_attempts: 6 }, admin, null, call);
    // A cron pass a second from now: its time is the pass's own, so the backoff counts from it exactly.
    const t0 = Date.now() + 1_000;
    const first = await jobs({ ANALYTICS: analytics }).runScheduled(cronAt(t0));
    expect(first.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "retry_scheduled", attempts: 1 });
    const waiting = await jobs().get(job.id, admin, call);
    expect(waiting.last_error).toContain("upstream_unavailable");
    expect(Date.parse(waiting.run_at)).toBe(t0 + 30_000);
    down = false;
    const second = await jobs({ ANALYTICS: analytics }).runScheduled(cronAt(t0 + 30_000));
    expect(second.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded", attempts: 2 });
  });
});
