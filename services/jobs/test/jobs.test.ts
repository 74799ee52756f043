import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import worker from "../src/index";
import { admin, agedLease, call, codeOf, cronAt, guest, jobs } from "./helpers";

const ask = (prompt: string) => ({ kind: "si.ask", input: { prompt, max_tokens: 32 } });

describe("creating and reading jobs", () => {
  it("creates a pending job the owner can read and list", async () => {
    const user = await guest();
    const { job, created } = await jobs().create(ask("hello"), user, null, call);
    expect(created).toBe(true);
    expect(job).toMatchObject({
      kind: "si.ask",
      status: "pending",
      attempts: 0,
      max_attempts: 3,
      input: { prompt: "hello", max_tokens: 32 },
    });
    expect(job.history).toMatchObject([{ status: "pending", note: `created by request ${call.requestId}` }]);
    expect(await jobs().get(job.id, user, call)).toEqual(job);
    expect((await jobs().list({}, user, call)).jobs.map((j) => j.id)).toEqual([job.id]);
  });

  it("keeps owners apart: another user's job is 404 and never listed", async () => {
    const alice = await guest();
    const bob = await guest();
    const { job } = await jobs().create(ask("secret"), alice, null, call);
    expect(await codeOf(jobs().get(job.id, bob, call))).toBe("not_found");
    expect(await codeOf(jobs().update(job.id, { action: "cancel" }, bob, call))).toBe("not_found");
    expect((await jobs().list({}, bob, call)).jobs).toEqual([]);
    expect(await codeOf(jobs().get("not-an-id", alice, call))).toBe("not_found");
  });

  it("lists newest first, filtered by status, paged", async () => {
    const user = await guest();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await jobs().create(ask(`n${i}`), user, null, call)).job.id);
    await jobs().update(ids[0] as string, { action: "cancel" }, user, call);
    const first = await jobs().list({ limit: "2" }, user, call);
    expect(first.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const rest = await jobs().list({ limit: "2", cursor: first.cursor as string }, user, call);
    expect(rest.jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect((await jobs().list({ status: "cancelled" }, user, call)).jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect(await codeOf(jobs().list({ status: "weird" }, user, call))).toBe("invalid_input");
  });

  it("refuses unknown kinds and invalid input when the job is created", async () => {
    const user = await guest();
    for (const body of [
      { kind: "nope.nothing", input: {} },
      { kind: "si.ask", input: {} },
      { kind: "si.ask", input: { prompt: "x", stream: true } },
      { kind: "si.ask", input: { prompt: "x", max_tokens: -1 } },
      { kind: "si.ask", input: { prompt: "x" }, run_at: "tomorrow" },
      { kind: "si.ask", input: { prompt: "x" }, max_attempts: 0 },
      { kind: "si.ask", input: { prompt: "x" }, max_attempts: 11 },
      { kind: "si.ask", input: { prompt: "x" }, extra: 1 },
      { kind: "si.ask", input: { prompt: "x" }, run_at: "2099-01-01T00:00:00Z" },
      [],
    ]) {
      expect(await codeOf(jobs().create(body, user, null, call)), JSON.stringify(body)).toBe("invalid_input");
    }
    expect(await codeOf(jobs().create({ kind: "admin.cleanup" }, user, null, call))).toBe("forbidden");
    expect((await jobs().list({}, user, call)).jobs).toEqual([]);
  });

  it("returns the same job for a repeated Idempotency-Key, and 422 for a different body", async () => {
    const user = await guest();
    const first = await jobs().create(ask("once"), user, "job-key-1", call);
    const again = await jobs().create(ask("once"), user, "job-key-1", call);
    expect(again).toEqual({ job: first.job, created: false });
    expect(await codeOf(jobs().create(ask("twice"), user, "job-key-1", call))).toBe("idempotency_mismatch");
    // After the first job is gone (pruned), the same key makes a new job that really runs.
    await jobs().update(first.job.id, { action: "cancel" }, user, call);
    await env.KV_BILLING.delete(`job:${first.job.id}`);
    // Gone from KV only moments after it finished, it may just not be readable yet: retry later.
    expect(await codeOf(jobs().create(ask("once"), user, "job-key-1", call))).toBe("conflict");
    await agedLease(first.job.id, 15 * 86_400_000);
    const reborn = await jobs().create(ask("once"), user, "job-key-1", call);
    expect(reborn).toMatchObject({ created: true, job: { id: first.job.id, status: "pending" } });
    expect((await jobs().run(admin, call)).ran.find((r) => r.id === first.job.id)?.outcome).toBe("succeeded");
    // The key is per owner: another user gets their own job.
    const other = await jobs().create(ask("once"), await guest(), "job-key-1", call);
    expect(other.job.id).not.toBe(first.job.id);
  });
});

describe("running jobs", () => {
  it("runs a due si.ask job once, billed like a synchronous ask", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("async hello"), user, null, call);
    const { ran } = await jobs().run(admin, { requestId: "run-request-0001" });
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded", attempts: 1 });
    const done = await jobs().get(job.id, user, call);
    expect(done.status).toBe("succeeded");
    expect(done.result).toMatchObject({ output: "Echo: async hello", usage: { tokens_in: 12, tokens_out: 5 } });
    expect(done.history.map((h) => h.status)).toEqual(["pending", "running", "succeeded"]);
    const credits = await env.BILLING.balance(user, call);
    expect(credits.balance).toBeLessThan(5);
    expect(credits.balance).toBe(5 - (done.result as { credits_used: number }).credits_used);
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, {}, call);
        expect(usage.events).toMatchObject([{ request_id: "run-request-0001", source: "si" }]);
      },
      { timeout: 5_000, interval: 100 },
    );
    // Nothing is due any more.
    expect((await jobs().run(admin, call)).ran.filter((r) => r.id === job.id)).toEqual([]);
  });

  it("does not run a job before its run_at", async () => {
    const user = await guest();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const { job } = await jobs().create({ ...ask("later"), run_at: later }, user, null, call);
    expect((await jobs().run(admin, call)).ran.some((r) => r.id === job.id)).toBe(false);
    const { ran } = await jobs().runScheduled(cronAt(Date.now() + 3_600_001));
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");
  });

  it("two runners in parallel over 50 due jobs execute each exactly once", async () => {
    const user = await guest();
    const ids = new Set<string>();
    // Slow answers keep both runners on the same jobs at the same time.
    for (let i = 0; i < 50; i++) ids.add((await jobs().create(ask(`[slow] bulk ${i}`), user, null, call)).job.id);
    const [a, b] = await Promise.all([
      jobs({ JOBS_RUN_LIMIT: "100" }).run(admin, call),
      jobs({ JOBS_RUN_LIMIT: "100" }).run(admin, call),
    ]);
    const succeeded = [...a.ran, ...b.ran].filter((r) => r.outcome === "succeeded" && ids.has(r.id));
    expect(succeeded).toHaveLength(50);
    expect(new Set(succeeded.map((r) => r.id)).size).toBe(50);
    // The other runner only ever skipped: it never started a job the first one held.
    expect(
      [...a.ran, ...b.ran].filter((r) => ids.has(r.id) && r.outcome !== "succeeded" && r.outcome !== "skipped"),
    ).toEqual([]);
    for (const id of ids) {
      const job = await jobs().get(id, user, call);
      expect(job.attempts).toBe(1);
      expect(job.history.filter((h) => h.status === "running")).toHaveLength(1);
    }
    // 50 billed asks, no more: one usage event per job.
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, { limit: "100" }, call);
        expect(usage.events).toHaveLength(50);
      },
      { timeout: 5_000, interval: 100 },
    );
  }, 20_000);

  it("retries a job whose runner died, once its lease has expired", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("after a crash"), user, null, call);
    const now = Date.now();
    // A runner took the job and died before finishing: its lease is still held.
    const lease = env.JOB_LEASE.get(env.JOB_LEASE.idFromName(job.id));
    expect(await lease.acquire("dead-runner", now, 120_000)).toMatchObject({ ok: true, attempts: 0 });
    expect(await lease.start("dead-runner")).toBe(1);
    expect((await jobs().runScheduled(cronAt(now + 1_000))).ran.find((r) => r.id === job.id)).toMatchObject({
      outcome: "skipped",
      reason: "leased",
    });
    // Skipping does not use up an attempt.
    expect((await lease.state()).attempts).toBe(1);
    const { ran } = await jobs().runScheduled(cronAt(now + 121_000));
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded", attempts: 2 });
    expect((await jobs().get(job.id, user, call)).status).toBe("succeeded");
  });

  it("runs due jobs from the cron trigger", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("from cron"), user, null, call);
    const controller = createScheduledController({ scheduledTime: Date.now() + 1_000, cron: "* * * * *" });
    const ctx = createExecutionContext();
    await worker.scheduled(controller, env, ctx);
    await waitOnExecutionContext(ctx);
    expect((await jobs().get(job.id, user, call)).status).toBe("succeeded");
  });
});

describe("rag.ingest jobs", () => {
  it("ingests a large document in the background, into the owner's index", async () => {
    const user = await guest();
    const text = `# Big manual\n\n${"The flux capacitor needs 1.21 gigawatts. ".repeat(400)}`;
    const { job } = await jobs().create({ kind: "rag.ingest", input: { id: "manual", text } }, user, null, call);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");
    expect((await jobs().get(job.id, user, call)).result).toMatchObject({ id: "manual", replaced: false });
    const found = await env.RAG.query(user, { query: "flux capacitor gigawatts", k: 1 }, call);
    expect(found.results[0]?.doc_id).toBe("manual");
    expect(await codeOf(jobs().create({ kind: "rag.ingest", input: { id: "x", text: "  " } }, user, null, call))).toBe(
      "invalid_input",
    );
    expect(await codeOf(jobs().create({ kind: "rag.ingest", input: { text: "no id" } }, user, null, call))).toBe(
      "invalid_input",
    );
  });
});

describe("changing jobs", () => {
  it("cancels a pending job, which then never runs", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("cancel me"), user, null, call);
    const cancelled = await jobs().update(job.id, { action: "cancel" }, user, call);
    expect(cancelled.status).toBe("cancelled");
    expect((await jobs().run(admin, call)).ran.filter((r) => r.id === job.id && r.outcome === "succeeded")).toEqual([]);
    expect(await codeOf(jobs().update(job.id, { action: "cancel" }, user, call))).toBe("conflict");
    expect(await codeOf(jobs().update(job.id, { input: { prompt: "x" } }, user, call))).toBe("conflict");
  });

  it("replaces a pending job's input, validated by its kind", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("first"), user, null, call);
    const edited = await jobs().update(job.id, { input: { prompt: "second" } }, user, call);
    expect(edited.input).toEqual({ prompt: "second" });
    expect(await codeOf(jobs().update(job.id, { input: { nope: 1 } }, user, call))).toBe("invalid_input");
    expect(await codeOf(jobs().update(job.id, { action: "pause" }, user, call))).toBe("invalid_input");
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");
    expect((await jobs().get(job.id, user, call)).result).toMatchObject({ output: "Echo: second" });
  });

  it("refuses to change a job a runner holds right now", async () => {
    const user = await guest();
    const { job } = await jobs().create(ask("busy"), user, null, call);
    await env.JOB_LEASE.get(env.JOB_LEASE.idFromName(job.id)).acquire("some-runner", Date.now(), 60_000);
    expect(await codeOf(jobs().update(job.id, { action: "cancel" }, user, call))).toBe("conflict");
  });
});

describe("cleanup", () => {
  it("is admin-only and removes dangling due keys, reporting counts", async () => {
    const user = await guest();
    expect(await codeOf(jobs().cleanup(user, call))).toBe("forbidden");
    await env.KV_BILLING.put("jobs:due:0000000000001:0123456789abcdef0123456789abcdef", "");
    const counts = await jobs().cleanup(admin, call);
    expect(counts).toMatchObject({ due_keys_deleted: 1, complete: true });
    expect(await env.KV_BILLING.get("jobs:due:0000000000001:0123456789abcdef0123456789abcdef")).toBeNull();
  });

  it("runs as an admin.cleanup job", async () => {
    const { job } = await jobs().create({ kind: "admin.cleanup" }, admin, null, call);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");
    expect((await jobs().get(job.id, admin, call)).result).toMatchObject({ jobs_deleted: 0 });
  });
});
