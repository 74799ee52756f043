import { runInDurableObject } from "cloudflare:test";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { failure } from "../../../test-support/failure";
import { env } from "../../../test-support/mesh-env";
import { migrateLease } from "../src/lease";
import { JobQueue } from "../src/queue";
import { admin, agedLease, agedRow, call, codeOf, guest, jobs } from "./helpers";

const ask = (prompt: string) => ({ kind: "si.ask", input: { prompt, max_tokens: 16 } });
const LONG_AGO = "1970-01-01T00:00:01Z";

/** Creates `count` jobs for `user`, a few at a time. */
async function createMany(service: ReturnType<typeof jobs>, user: Identity, count: number, body: unknown) {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, () => service.create(body, user, null, call)),
    );
    ids.push(...batch.map((b) => b.job.id));
  }
  return ids;
}

describe("one tenant cannot starve the others", () => {
  it("clamps a run_at in the past to the time the job is created", async () => {
    const user = await guest();
    const before = Date.now();
    const { job } = await jobs().create({ ...ask("from 1970"), run_at: LONG_AGO }, user, null, call);
    expect(Date.parse(job.run_at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse((await jobs().get(job.id, user, call)).run_at)).toBeGreaterThanOrEqual(before);
  });

  it("runs tenant B's one due job in the next pass although tenant A has 200 older due jobs", async () => {
    const service = jobs({ JOBS_MAX_PENDING: "1000" });
    const a = await guest();
    const b = await guest();
    const flood = new Set(await createMany(service, a, 200, { ...ask("flood"), run_at: LONG_AGO }));
    const { job } = await service.create(ask("just one"), b, null, call);
    const { ran } = await service.run(admin, call);
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded" });
    // A still gets the rest of the pass, and the pass stays within JOBS_RUN_LIMIT.
    expect(ran.filter((r) => flood.has(r.id) && r.outcome === "succeeded").length).toBeGreaterThan(0);
    expect(ran.length).toBeLessThanOrEqual(25);
    // The rest of the flood would fill every later test's passes in this file.
    const queue = env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue"));
    await Promise.all([...flood].map((id) => queue.remove(id)));
  }, 30_000);

  it("answers 429 rate_limited over JOBS_MAX_PENDING and creates nothing, even for concurrent creates", async () => {
    const service = jobs({ JOBS_MAX_PENDING: "3" });
    const user = await guest();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => service.create(ask(`capped ${i}`), user, null, call)),
    );
    const created = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(created).toHaveLength(3);
    expect(refused).toHaveLength(5);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: "rate_limited", details: { retry_after: expect.any(Number) } });
    }
    expect((await service.list({}, user, call)).jobs).toHaveLength(3);
    expect(await codeOf(service.create(ask("one more"), user, "capped-key", call))).toBe("rate_limited");
    expect((await service.list({}, user, call)).jobs).toHaveLength(3);
    // A finished (here: cancelled) job frees its place.
    const first = (await service.list({}, user, call)).jobs[0] as { id: string };
    await service.update(first.id, { action: "cancel" }, user, call);
    expect((await service.create(ask("after a cancel"), user, null, call)).created).toBe(true);
    // Another tenant has its own allowance.
    expect((await service.create(ask("someone else"), await guest(), null, call)).created).toBe(true);
  });

  it("creates one job for concurrent creates under one Idempotency-Key", async () => {
    const user = await guest();
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => jobs().create(ask("raced"), user, "raced-key", call)),
    );
    const created = results.filter((r) => r.status === "fulfilled" && r.value.created);
    expect(created).toHaveLength(1);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "conflict" });
    }
    expect((await jobs().list({}, user, call)).jobs).toHaveLength(1);
    const queue = env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue"));
    expect(await queue.pending(user.sub, Date.now())).toBe(1);
  });

  it("stops counting a pending job against the cap once its pending TTL has passed", async () => {
    const user = await guest();
    const service = jobs({ JOBS_MAX_PENDING: "1" });
    await service.create(ask("only one"), user, null, call);
    expect(await codeOf(service.create(ask("a second"), user, null, call))).toBe("rate_limited");
    // Eight days on (the TTL is 7 days past run_at), the queue has dropped it.
    const queue = env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue"));
    const later = Date.now() + 8 * 86_400_000;
    expect(await queue.pending(user.sub, later)).toBe(0);
    const entry = { id: "f".repeat(32), tenant: user.sub, runAt: later, expiresAt: later + 1000, fingerprint: null };
    expect(await queue.admit(entry, 1, later)).toEqual({ ok: true, fresh: true });
  });

  it("runs a pass's jobs concurrently, never more than JOBS_RUN_CONCURRENCY at once", async () => {
    let inFlight = 0;
    let most = 0;
    // Observes the real SI: every call still goes through it.
    const si = {
      async ask(...args: Parameters<JobsEnv["SI"]["ask"]>) {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          return await env.SI.ask(...args);
        } finally {
          inFlight -= 1;
        }
      },
    };
    const service = jobs({ JOBS_RUN_CONCURRENCY: "3", SI: si as unknown as JobsEnv["SI"] });
    const user = await guest();
    const ids = new Set(await createMany(service, user, 9, ask("[slow] in parallel")));
    const { ran } = await service.run(admin, call);
    expect(ran.filter((r) => ids.has(r.id) && r.outcome === "succeeded")).toHaveLength(9);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);
  }, 20_000);

  it("gives pending rows a TTL of JOBS_PENDING_TTL_DAYS past their run_at", async () => {
    const user = await guest();
    const runAt = Date.now() + 3_600_000;
    const { job } = await jobs({ JOBS_PENDING_TTL_DAYS: "2" }).create(
      { ...ask("expires"), run_at: new Date(runAt).toISOString() },
      user,
      null,
      call,
    );
    const { keys } = await env.KV_BILLING.list({ prefix: `job:${job.id}` });
    expect(keys[0]?.expiration).toBe(Math.floor((runAt + 2 * 86_400_000) / 1000));
  });
});

describe("the queue's pick, pass after pass", () => {
  const FAR = 10 ** 13;
  /** A queue object of the test's own, so other tests' jobs do not share its passes. */
  const queueNamed = (name: string) => env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName(name));
  const entry = (id: string, tenant: string, runAt: number) => ({
    id,
    tenant,
    runAt,
    expiresAt: FAR,
    fingerprint: null,
  });
  /** `count` passes of `limit` a minute apart; what they took stays held (running) throughout. */
  async function passes(queue: ReturnType<typeof queueNamed>, count: number, limit: number) {
    const taken: { id: string; tenant: string }[][] = [];
    for (let pass = 0; pass < count; pass++) taken.push(await queue.take(10_000 + pass * 60_000, limit, FAR));
    return taken;
  }

  it("serves a tenant new to the queue within ⌈tenants / limit⌉ passes, behind older backlogs", async () => {
    const queue = queueNamed("fairness-newcomer");
    // Three tenants with four due jobs each, admitted first; B's one job comes later.
    for (const t of ["a1", "a2", "a3"])
      for (let i = 0; i < 4; i++) await queue.admit(entry(`${t}-${i}`, t, 1000 + i), 100, 1000);
    await queue.admit(entry("b-0", "b", 2000), 100, 2000);
    const taken = await passes(queue, 2, 3);
    expect(taken.flat().map((e) => e.id)).toContain("b-0");
    expect(taken[0]).toHaveLength(3);
  });

  it("keeps a backlogged tenant's turn while others drain their queue and come back", async () => {
    const queue = queueNamed("fairness-churn");
    for (let i = 0; i < 5; i++) await queue.admit(entry(`b-${i}`, "b", 1000 + i), 100, 1000);
    const served: string[] = [];
    for (let pass = 0; pass < 10; pass++) {
      const now = 10_000 + pass * 60_000;
      // Two tenants keep one job queued at a time: a new one as soon as the last has finished.
      for (const t of ["x", "y"])
        if ((await queue.pending(t, now)) === 0) await queue.admit(entry(`${t}-${pass}`, t, now), 100, now);
      for (const taken of await queue.take(now, 2, 1)) {
        served.push(taken.tenant);
        await queue.remove(taken.id);
      }
    }
    // Three tenants, two places a pass: B gets one in every three or so, never fewer.
    expect(served.filter((tenant) => tenant === "b").length).toBeGreaterThanOrEqual(5);
  });

  it("serves every backlogged tenant once before any tenant twice, across consecutive passes", async () => {
    const queue = queueNamed("fairness-rounds");
    const tenants = Array.from({ length: 7 }, (_, i) => `t${i}`);
    // Each tenant's backlog is older than the next tenant's, as when tenants pile up jobs in turn.
    for (const [i, t] of tenants.entries())
      for (let j = 0; j < 5; j++) await queue.admit(entry(`${t}-${j}`, t, 1000 + i * 10 + j), 100, 1000);
    const order = (await passes(queue, 12, 3)).flat().map((e) => e.tenant);
    expect(order).toHaveLength(35);
    for (let round = 0; round < 5; round++)
      expect(order.slice(round * 7, round * 7 + 7).sort(), `round ${round + 1}`).toEqual(tenants);
  });

  it("forgets a tenant once none of its jobs is queued", async () => {
    const queue = queueNamed("fairness-forget");
    for (let i = 0; i < 3; i++) await queue.admit(entry(`gone-${i}`, "gone", 1000 + i), 100, 1000);
    await queue.admit(entry("expiring", "expired", 1000), 100, 1000);
    await queue.admit(entry("stays", "stays", 1000), 100, 1000);
    expect(await queue.take(5000, 10, 60_000)).toHaveLength(5);
    for (let i = 0; i < 3; i++) await queue.remove(`gone-${i}`);
    await queue.reschedule("expiring", 6000, 7000);
    await queue.take(8000, 10, 60_000);
    await runInDurableObject(queue, async (_instance, state) => {
      const rows = state.storage.sql.exec<{ tenant: string }>("SELECT tenant FROM served").toArray();
      expect(rows.map((r) => r.tenant)).toEqual(["stays"]);
    });
  });

  it("takes up the tenants of a queue written before it remembered who was served", async () => {
    const queue = queueNamed("fairness-upgrade");
    await queue.admit(entry("before-x", "x", 1000), 100, 1000);
    await queue.admit(entry("before-y", "y", 1000), 100, 1000);
    await runInDurableObject(queue, async (_instance, state) => {
      state.storage.sql.exec("DROP TABLE served");
      // The object as the next deploy starts it.
      new JobQueue(state, env);
    });
    expect((await queue.take(5000, 10, 60_000)).map((e) => e.id).sort()).toEqual(["before-x", "before-y"]);
  });

  it("writes nothing for a create refused at the cap, not even the tenant's expired entries", async () => {
    const queue = queueNamed("fairness-refused");
    await queue.admit({ ...entry("old", "capped", 1000), expiresAt: 2500 }, 3, 1000);
    await queue.admit(entry("new-0", "capped", 2000), 3, 2000);
    await queue.admit(entry("new-1", "capped", 2000), 3, 2000);
    // Once "old" has expired, the cap (lowered, as a deploy may) is full with the other two.
    expect(await queue.admit(entry("new-2", "capped", 3000), 2, 3000)).toMatchObject({ ok: false, pending: 2 });
    await runInDurableObject(queue, async (_instance, state) => {
      const ids = state.storage.sql.exec<{ id: string }>("SELECT id FROM queue ORDER BY id").toArray();
      expect(ids.map((r) => r.id)).toEqual(["new-0", "new-1", "old"]);
    });
  });
});

describe("the jobs list view", () => {
  it("leaves out input and result, which stay at GET /api/jobs/:id", async () => {
    const user = await guest();
    const big = "x".repeat(150_000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await jobs().create(ask(`${i} ${big}`), user, null, call)).job.id);
    await jobs().run(admin, call);
    // The listing reads no row: a page of 1 MiB inputs costs the isolate no more than its summaries.
    let rowReads = 0;
    const kv = new Proxy(env.KV_BILLING, {
      get(target, name) {
        if (name === "get") {
          return (...args: Parameters<KVNamespace["get"]>) => {
            rowReads += 1;
            return target.get(...args);
          };
        }
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const listed = await jobs({ KV_BILLING: kv }).list({ limit: "100" }, user, call);
    expect(rowReads).toBe(0);
    expect(listed.jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(JSON.stringify(listed).length).toBeLessThan(5_000);
    for (const j of listed.jobs) {
      expect(j).not.toHaveProperty("input");
      expect(j).not.toHaveProperty("result");
      expect(j).toMatchObject({ kind: "si.ask", attempts: expect.any(Number), run_at: expect.any(String) });
    }
    const full = await jobs().get(ids[0] as string, user, call);
    expect((full.input as { prompt: string }).prompt).toHaveLength(150_002);
    expect(full.result).toBeDefined();
  }, 20_000);
});

describe("a job re-created after its key's job was pruned", () => {
  it("runs again and is charged again", async () => {
    const user = await guest();
    const body = ask("charged once per job");
    const first = await jobs().create(body, user, "prune-key", call);
    expect((await jobs().run(admin, call)).ran.find((r) => r.id === first.job.id)?.outcome).toBe("succeeded");
    const afterFirst = (await env.BILLING.balance(user, call)).balance;
    expect(afterFirst).toBeLessThan(5);

    // Past JOBS_TTL_DAYS (14 by default) the cleanup prunes the finished job.
    await agedRow(first.job.id, 15 * 86_400_000);
    const pruned = await jobs().cleanup(admin, call);
    expect(pruned.jobs_deleted).toBeGreaterThanOrEqual(1);
    expect(await codeOf(jobs().get(first.job.id, user, call))).toBe("not_found");
    // The job's lease remembers when it finished; move that back past JOBS_TTL_DAYS as well.
    await agedLease(first.job.id, 15 * 86_400_000);

    const again = await jobs().create(body, user, "prune-key", call);
    expect(again.created).toBe(true);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === again.job.id)?.outcome).toBe("succeeded");
    expect((await env.BILLING.balance(user, call)).balance).toBeLessThan(afterFirst);
  }, 20_000);
});

describe("a retried create that reads its finished job's row as missing", () => {
  it("is refused with 409 and never runs or charges the job again (KV may lag its writes)", async () => {
    const user = await guest();
    const body = ask("charged once per job");
    const first = await jobs().create(body, user, "stale-key", call);
    expect((await jobs().run(admin, call)).ran.find((r) => r.id === first.job.id)?.outcome).toBe("succeeded");
    const afterFirst = (await env.BILLING.balance(user, call)).balance;
    expect(afterFirst).toBeLessThan(5);
    // What a KV reader may see for up to a minute (another colo, a cached negative lookup): the row
    // written moments ago is not there.
    const row = await env.KV_BILLING.get(`job:${first.job.id}`);
    await env.KV_BILLING.delete(`job:${first.job.id}`);

    const refusal = await failure(jobs().create(body, user, "stale-key", call));
    expect(refusal).toMatchObject({ code: "conflict", details: { retry_after: 60 } });
    expect(await codeOf(jobs().create(ask("another body"), user, "stale-key", call))).toBe("idempotency_mismatch");
    await jobs().run(admin, call);
    expect((await env.BILLING.balance(user, call)).balance).toBe(afterFirst);
    expect(await env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue")).pending(user.sub, Date.now())).toBe(0);

    // Once the row is readable again, the retry gets the finished job.
    await env.KV_BILLING.put(`job:${first.job.id}`, row as string);
    const again = await jobs().create(body, user, "stale-key", call);
    expect(again).toMatchObject({ created: false, job: { id: first.job.id, status: "succeeded" } });
  }, 20_000);

  it("is a new job once the finished one's row has stayed unreadable past KV's lag", async () => {
    const user = await guest();
    const body = ask("row lost for good");
    const first = await jobs().create(body, user, "lost-row", call);
    await jobs().run(admin, call);
    const afterFirst = (await env.BILLING.balance(user, call)).balance;
    // The row is gone for good (its last write failed, or an operator deleted it), not just late.
    await env.KV_BILLING.delete(`job:${first.job.id}`);
    expect(await codeOf(jobs().create(body, user, "lost-row", call))).toBe("conflict");
    await agedLease(first.job.id, 10 * 60_000);
    const again = await jobs().create(body, user, "lost-row", call);
    expect(again).toMatchObject({ created: true, job: { id: first.job.id, status: "pending" } });
    await jobs().run(admin, call);
    expect((await env.BILLING.balance(user, call)).balance).toBeLessThan(afterFirst);
  }, 20_000);

  it("is refused for a cancelled job too", async () => {
    const user = await guest();
    const body = ask("cancelled, then retried");
    const first = await jobs().create(body, user, "stale-cancel", call);
    await jobs().update(first.job.id, { action: "cancel" }, user, call);
    await env.KV_BILLING.delete(`job:${first.job.id}`);
    expect(await codeOf(jobs().create(body, user, "stale-cancel", call))).toBe("conflict");
    expect((await jobs().run(admin, call)).ran.some((r) => r.id === first.job.id)).toBe(false);
    expect((await env.BILLING.balance(user, call)).balance).toBe(5);
  });
});

describe("a lease from before it kept finish times", () => {
  it("gains the columns, and its finished job's key starts a new job as before", async () => {
    const user = await guest();
    const body = ask("an old lease");
    const first = await jobs().create(body, user, "old-lease-key", call);
    const lease = env.JOB_LEASE.get(env.JOB_LEASE.idFromName(first.job.id));
    await runInDurableObject(lease, async (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE lease");
      sql.exec(
        "CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, until INTEGER NOT NULL, attempts INTEGER NOT NULL, outcome TEXT)",
      );
      sql.exec("INSERT INTO lease VALUES (1, NULL, 0, 1, 'succeeded')");
      migrateLease(sql);
      migrateLease(sql);
      const columns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('lease')")
        .toArray()
        .map((row) => row.name);
      expect(columns).toEqual(expect.arrayContaining(["finished_at", "kept_until", "fingerprint"]));
    });
    // Its finish time is unknown, so a create that finds neither the row nor a queued job takes the
    // job for pruned, as before.
    await env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName("queue")).remove(first.job.id);
    await env.KV_BILLING.delete(`job:${first.job.id}`);
    expect(await jobs().create(body, user, "old-lease-key", call)).toMatchObject({ created: true });
  });
});

describe("jobs written before the queue existed", () => {
  it("are moved into the queue by the next pass, listed from their rows, and run", async () => {
    const user = await guest();
    const id = "0123456789abcdef0123456789abc0de";
    const now = Date.now();
    // What the previous version wrote: a row without a nonce, an index entry with status and kind
    // only, and a due key.
    const row = {
      id,
      owner: user,
      kind: "si.ask",
      input: { prompt: "from before", max_tokens: 16 },
      status: "pending",
      attempts: 0,
      max_attempts: 3,
      run_at: now,
      created_at: now,
      updated_at: now,
      history: [{ status: "pending", at: new Date(now).toISOString() }],
    };
    await env.KV_BILLING.put(`job:${id}`, JSON.stringify(row));
    await env.KV_BILLING.put(`jobs:owner:${user.sub}:${String(9_999_999_999_999 - now).padStart(13, "0")}:${id}`, "", {
      metadata: { status: "pending", kind: "si.ask" },
    });
    await env.KV_BILLING.put(`jobs:due:${String(now).padStart(13, "0")}:${id}`, "");
    expect((await jobs().list({}, user, call)).jobs).toMatchObject([{ id, status: "pending", attempts: 0 }]);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === id)).toMatchObject({ outcome: "succeeded" });
    expect(await env.KV_BILLING.get(`jobs:due:${String(now).padStart(13, "0")}:${id}`)).toBeNull();
    expect((await env.BILLING.balance(user, call)).balance).toBeLessThan(5);
  }, 20_000);
});
