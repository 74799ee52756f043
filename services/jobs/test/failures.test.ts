import { describe, expect, it } from "vitest";
import { admin, call, cronAt, guest, jobs } from "./helpers";

// A separate file: failing asks open SI's circuit breaker, which would change other tests' routes.

describe("failing jobs", () => {
  it("backs off exponentially between attempts, then ends failed with the last error", async () => {
    const user = await guest();
    const { job } = await jobs().create(
      { kind: "si.ask", input: { prompt: "[down] always", max_tokens: 16 }, max_attempts: 3 },
      user,
      null,
      call,
    );
    // A cron pass a second from now: its time is the pass's own, so the backoff counts from it exactly.
    const t0 = Date.now() + 1_000;
    const first = await jobs().runScheduled(cronAt(t0));
    expect(first.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "retry_scheduled", attempts: 1 });
    let row = await jobs().get(job.id, user, call);
    expect(row.status).toBe("pending");
    expect(Date.parse(row.run_at)).toBe(t0 + 30_000); // base 30 s
    expect(row.last_error).toContain("upstream_unavailable");

    expect((await jobs().runScheduled(cronAt(t0 + 29_999))).ran.some((r) => r.id === job.id)).toBe(false);
    const second = await jobs().runScheduled(cronAt(t0 + 30_000));
    expect(second.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "retry_scheduled", attempts: 2 });
    row = await jobs().get(job.id, user, call);
    expect(Date.parse(row.run_at)).toBe(t0 + 30_000 + 60_000); // then 60 s

    const third = await jobs().runScheduled(cronAt(t0 + 90_000));
    expect(third.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "failed", attempts: 3 });
    row = await jobs().get(job.id, user, call);
    expect(row.status).toBe("failed");
    expect(row.last_error).toContain("upstream_unavailable");
    expect(row.history.map((h) => h.status)).toEqual([
      "pending",
      "running",
      "pending",
      "running",
      "pending",
      "running",
      "failed",
    ]);
    // A failed job is finished: nothing runs it again.
    expect(
      (await jobs().runScheduled(cronAt(t0 + 10_000_000))).ran.some((r) => r.id === job.id && r.outcome !== "skipped"),
    ).toBe(false);
    // And the user paid nothing for asks no provider answered.
    const { env } = await import("cloudflare:workers");
    expect((await env.BILLING.balance(user, call)).balance).toBe(5);
  });

  it("fails a job at once when the ask itself is invalid (no retry can help)", async () => {
    const user = await guest();
    const { job } = await jobs().create(
      { kind: "si.ask", input: { prompt: "x", model: "no/such-model" }, max_attempts: 5 },
      user,
      null,
      call,
    );
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "failed", attempts: 1 });
    expect((await jobs().get(job.id, user, call)).last_error).toContain("invalid_input");
  });

  it("gives up on a poison job whose runners keep dying", async () => {
    const user = await guest();
    const { env } = await import("cloudflare:workers");
    const { job } = await jobs().create(
      { kind: "si.ask", input: { prompt: "poison" }, max_attempts: 2 },
      user,
      null,
      call,
    );
    const lease = env.JOB_LEASE.get(env.JOB_LEASE.idFromName(job.id));
    const now = Date.now();
    await lease.acquire("dies-1", now, 1_000);
    await lease.start("dies-1");
    await lease.acquire("dies-2", now + 2_000, 1_000);
    await lease.start("dies-2");
    const { ran } = await jobs().runScheduled(cronAt(now + 5_000));
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "failed" });
    expect((await jobs().get(job.id, user, call)).status).toBe("failed");
  });
});

describe("an ask still in flight from a dead runner", () => {
  it("waits out billing's takeover window instead of burning attempts", async () => {
    const { env } = await import("cloudflare:workers");
    const user = await guest();
    const input = { prompt: "in flight", max_tokens: 32 };
    const { job } = await jobs().create({ kind: "si.ask", input, max_attempts: 3 }, user, null, call);
    // The earlier attempt began its ask (same key, same body) and never finished.
    const row = await env.KV_BILLING.get<{ nonce: string }>(`job:${job.id}`, "json");
    await env.BILLING.beginOperation(user, `ask:job:${job.id}:${row?.nonce}`, JSON.stringify(input), call);
    const t0 = Date.now();
    const { ran } = await jobs().runScheduled(cronAt(t0));
    // The refusal is not an attempt: the ask never started.
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "retry_scheduled", attempts: 0 });
    const after = await jobs().get(job.id, user, call);
    expect(Date.parse(after.run_at)).toBeGreaterThanOrEqual(t0 + 10 * 60_000);
    expect(after.last_error).toContain("conflict");
  });

  it("waits as long as the conflict's retry_after, spends no attempt, then replays the answered ask", async () => {
    const { env } = await import("cloudflare:workers");
    const user = await guest();
    const input = { prompt: "in flight for long", max_tokens: 32 };
    const { job } = await jobs().create({ kind: "si.ask", input, max_attempts: 1 }, user, null, call);
    const row = await env.KV_BILLING.get<{ nonce: string }>(`job:${job.id}`, "json");
    const key = `ask:job:${job.id}:${row?.nonce}`;
    // SI leases an ask for 2 × SI_LATENCY_BUDGET_MS + 120 s: with a larger budget, well over 10 minutes.
    await env.BILLING.beginOperation(user, key, JSON.stringify(input), call, { leaseSeconds: 1800 });
    const t0 = Date.now();
    const first = await jobs().runScheduled(cronAt(t0));
    expect(first.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "retry_scheduled", attempts: 0 });
    const waiting = await jobs().get(job.id, user, call);
    expect(waiting).toMatchObject({ status: "pending", attempts: 0 });
    expect(Date.parse(waiting.run_at)).toBeGreaterThanOrEqual(t0 + 1_800_000);
    expect(Date.parse(waiting.run_at)).toBeLessThan(t0 + 1_800_000 + 60_000);
    expect((await jobs().runScheduled(cronAt(Date.parse(waiting.run_at) - 1))).ran.some((r) => r.id === job.id)).toBe(
      false,
    );

    // Meanwhile the earlier attempt's ask is answered (another account's answer stands in for it, so
    // this account's balance shows only what the job costs): the retry replays it, for free.
    const answered = await env.SI.ask(input, await guest(), null, { requestId: "the-earlier-attempt" });
    if ("stream" in answered) throw new Error("expected a JSON answer");
    await env.BILLING.completeOperation(user, key, JSON.stringify(answered.body), call);
    const second = await jobs().runScheduled(cronAt(Date.parse(waiting.run_at)));
    expect(second.ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded", attempts: 1 });
    expect((await jobs().get(job.id, user, call)).result).toMatchObject({ request_id: "the-earlier-attempt" });
    expect((await env.BILLING.balance(user, call)).balance).toBe(5);
  });
});
