import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_PAGES_PER_LISTING, recordUsage, recordUsageBatch } from "../src/usage";
import { carryUsage } from "../src/usage-outbox";
import { billing, call, codeOf, ledger, newAccount } from "./helpers";

const report = { tokens_in: 10, tokens_out: 20, provider: "openai", model: "gpt-4.1-mini", credits: 0.00003 };

describe("usage events", () => {
  it("stores each event in KV under a time-bucketed key with a TTL", async () => {
    const user = await newAccount();
    const event = await billing().reportUsage(user, report, undefined, { requestId: "usage-kv-0001" });
    expect(event).toMatchObject({ ...report, request_id: "usage-kv-0001", source: "client" });
    const day = event.at.slice(0, 10).replaceAll("-", "");
    const listed = await env.KV_BILLING.list({ prefix: `usage:${user.sub}:${day}:` });
    expect(listed.keys).toHaveLength(1);
    const key = listed.keys[0]!;
    expect(key.name).toMatch(new RegExp(`^usage:${user.sub}:${day}:\\d{13}:${event.id}$`));
    expect(key.metadata).toEqual(event);
    // 35 days (USAGE_TTL_DAYS), give or take the test's own runtime.
    expect(key.expiration! - Date.now() / 1000).toBeGreaterThan(35 * 86_400 - 60);
    expect(key.expiration! - Date.now() / 1000).toBeLessThanOrEqual(35 * 86_400 + 1);
  });

  it("409s a duplicate while the first request with the key is still in flight", async () => {
    const user = await newAccount();
    // The first request has begun but not finished (as if it were still writing).
    const begun = await ledger(user.sub).beginIdempotent(
      user.sub,
      "usage:slow-1",
      JSON.stringify({ ...report, credits: 30 }),
      Date.now(),
    );
    expect(begun.ok).toBe(true);
    expect(await codeOf(billing().reportUsage(user, report, "slow-1", call))).toBe("conflict");
    // Once it completes, a retry replays its answer.
    await ledger(user.sub).completeIdempotent("usage:slow-1", JSON.stringify({ id: "first" }));
    expect(await billing().reportUsage(user, report, "slow-1", call)).toEqual({ id: "first" });
  });

  it("takes over an in-flight record whose worker died, after ten minutes", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const dead = await account.beginIdempotent(user.sub, "op:dead", "f", now - 11 * 60_000);
    expect(dead.ok).toBe(true);
    const retried = await account.beginIdempotent(user.sub, "op:dead", "f", now);
    // The same operation: its charges keep their names.
    expect(retried.ok && retried.value).toEqual({
      state: "new",
      nonce: dead.ok && "nonce" in dead.value && dead.value.nonce,
    });
    const meanwhile = await account.beginIdempotent(user.sub, "op:dead", "f", now + 1_000);
    expect(meanwhile.ok ? "ok" : meanwhile.code).toBe("conflict");
  });

  it("lets a failed attempt be retried under the same key", async () => {
    const user = await newAccount();
    const broken = {
      ...env,
      KV_BILLING: { put: () => Promise.reject(new Error("KV down")) } as unknown as KVNamespace,
    };
    const { BillingService } = await import("../src/index");
    const { createExecutionContext } = await import("cloudflare:test");
    await expect(
      new BillingService(createExecutionContext(), broken).reportUsage(user, report, "retry-1", call),
    ).rejects.toThrow("KV down");
    const event = await billing().reportUsage(user, report, "retry-1", call);
    expect(event.tokens_in).toBe(10);
  });

  it("replays concurrent duplicates as one event", async () => {
    const user = await newAccount();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        billing()
          .reportUsage(user, report, "burst-1", call)
          .then(
            (e) => e.id,
            (e) => e.code as string,
          ),
      ),
    );
    const ids = outcomes.filter((o) => o !== "conflict");
    expect(new Set(ids).size).toBe(1);
    expect((await billing().listUsage(user, {}, call)).events).toHaveLength(1);
  });

  it("lists only inside the window and pages with a cursor", async () => {
    const user = await newAccount();
    for (let i = 0; i < 3; i++) {
      // Events of one millisecond list in id order: a millisecond apart, they list in report order.
      await billing().reportUsage(user, { ...report, tokens_in: i }, undefined, call);
      const stamped = Date.now();
      while (Date.now() <= stamped) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const page = await billing().listUsage(user, { limit: "2" }, call);
    expect(page.events.map((e) => e.tokens_in)).toEqual([0, 1]);
    const rest = await billing().listUsage(user, { limit: "2", cursor: page.cursor! }, call);
    expect(rest).toMatchObject({ events: [{ tokens_in: 2 }], cursor: null });
    const future = await billing().listUsage(
      user,
      { from: new Date(Date.now() + 3_600_000).toISOString(), to: new Date(Date.now() + 7_200_000).toISOString() },
      call,
    );
    expect(future.events).toEqual([]);
  });

  it("writes a settlement's events with one KV write and lists them page by page", async () => {
    const user = await newAccount();
    await billing().openAllowance(
      user,
      { id: "usage-al", min_micro: 0, want_micro: 1_000_000, want_slots: 0, ttl_seconds: 60 },
      call,
    );
    const started = Date.now();
    const usage = { tokens_in: 10, tokens_out: 10, provider: "groq", model: "groq/gpt-oss-20b", estimated: false };
    const draws = Array.from({ length: 5 }, (_, i) => ({
      id: `usage-draw-${i}`,
      cost_micro: 100 + i,
      request_id: `usage-req-${i}`,
      at: started + i,
      usage,
    }));
    const service = billing();
    await service.settleAllowance(user, "usage-al", draws, null, call);
    // The events are queued with the charges and carried to KV by the account's alarm.
    expect(await env.KV_BILLING.list({ prefix: `usage:${user.sub}:` })).toMatchObject({ keys: [] });
    expect(await runDurableObjectAlarm(ledger(user.sub))).toBe(true);
    const keys = await env.KV_BILLING.list({ prefix: `usage:${user.sub}:` });
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]?.metadata).toMatchObject({ batch: 5, first: started, last: started + 4 });
    // Pages of two, resuming inside the batch, in time order, each event with its request id.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await billing().listUsage(user, { limit: "2", ...(cursor ? { cursor } : {}) }, call);
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((e) => `${e.request_id}:${e.credits}`));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(draws.map((d) => `${d.request_id}:${d.cost_micro / 1e6}`));
    // Replayed draws write no second event.
    await billing().settleAllowance(user, "usage-al", draws, null, call);
    await runDurableObjectAlarm(ledger(user.sub));
    expect((await billing().listUsage(user, { limit: "50" }, call)).events).toHaveLength(5);
  });

  it("resumes a listing after the last key it read, even when an earlier key is written meanwhile", async () => {
    const user = await newAccount();
    const base = Date.now() - 60_000;
    const record = (i: number, at: number) => ({
      id: `late-${i}`,
      account: user.sub,
      at,
      requestId: `late-req-${i}`,
      tokensIn: i,
      tokensOut: 0,
      provider: "groq",
      model: "groq/gpt-oss-20b",
      creditsMicro: 1,
      source: "si" as const,
    });
    for (const i of [1, 2, 3]) await recordUsage(env.KV_BILLING, record(i, base + i * 1000), 3600);
    const first = await billing().listUsage(user, { limit: "2" }, call);
    expect(first.events.map((e) => e.tokens_in)).toEqual([1, 2]);
    // A settlement lands late with events older than the page boundary.
    await recordUsageBatch(env.KV_BILLING, user.sub, [record(8, base + 500), record(9, base + 600)], 3600);
    const rest = await billing().listUsage(user, { limit: "2", cursor: first.cursor! }, call);
    expect(rest.events.map((e) => e.tokens_in)).toEqual([3]);
  });
});

// Writing the busy day's keys takes a few seconds; the listings themselves are quick.
describe("usage listing on a busy day", { timeout: 60_000 }, () => {
  const DAY = 86_400_000;
  // Yesterday 01:00 UTC: every event falls on one UTC day, and the window needs no defaults.
  const base = Math.floor(Date.now() / DAY) * DAY - DAY + 3_600_000;
  const EVENTS = 1_250;

  /** An account with EVENTS single-event keys, event i at base + 10·i ms (tokens_in = i). */
  let busy: ReturnType<typeof writeBusyAccount> | undefined;
  const busyAccount = () => {
    busy ??= writeBusyAccount();
    return busy;
  };
  async function writeBusyAccount() {
    const user = await newAccount();
    const indexes = Array.from({ length: EVENTS }, (_, i) => i);
    for (let at = 0; at < EVENTS; at += 125) {
      await Promise.all(
        indexes.slice(at, at + 125).map((i) =>
          recordUsage(
            env.KV_BILLING,
            {
              id: `busy-${i}`,
              account: user.sub,
              at: base + 10 * i,
              requestId: `busy-req-${i}`,
              tokensIn: i,
              tokensOut: 0,
              provider: "groq",
              model: "groq/gpt-oss-20b",
              creditsMicro: 1,
              source: "si",
            },
            3600,
          ),
        ),
      );
    }
    return user;
  }

  /** KV_BILLING with its list calls counted: each is a subrequest. */
  function countingKv() {
    const counter = { lists: 0 };
    const kv = new Proxy(env.KV_BILLING, {
      get(target, property) {
        if (property === "list")
          return (options: KVNamespaceListOptions) => {
            counter.lists += 1;
            return target.list(options);
          };
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { kv, counter };
  }

  /** Every event of the window, page by page, with the KV list calls each request made. */
  async function listAll(user: Awaited<ReturnType<typeof newAccount>>, first: number, last: number, limit: string) {
    const window = { from: new Date(base + 10 * first).toISOString(), to: new Date(base + 10 * last).toISOString() };
    const seen: number[] = [];
    const listsPerRequest: number[] = [];
    let cursor: string | undefined;
    for (let request = 0; request < 200; request++) {
      const { kv, counter } = countingKv();
      const page = await billing({ KV_BILLING: kv }).listUsage(
        user,
        { ...window, limit, ...(cursor ? { cursor } : {}) },
        call,
      );
      listsPerRequest.push(counter.lists);
      seen.push(...page.events.map((e) => e.tokens_in));
      cursor = page.cursor ?? undefined;
      if (!cursor) break;
    }
    expect(cursor).toBeUndefined();
    return { seen, listsPerRequest };
  }

  const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

  it("reads a bounded number of KV pages per request and stops at the first key past the window", async () => {
    const user = await busyAccount();
    // A narrow window late in the day: the keys before it take more pages than one request may read.
    const late = await listAll(user, 1_100, 1_120, "100");
    expect(late.seen).toEqual(range(1_100, 1_120));
    expect(Math.max(...late.listsPerRequest)).toBeLessThanOrEqual(MAX_PAGES_PER_LISTING);
    expect(late.listsPerRequest.length).toBeGreaterThan(1);
    // Early in the day: the listing ends at the window's end instead of walking the rest of the day.
    const early = await listAll(user, 10, 30, "100");
    expect(early.seen).toEqual(range(10, 30));
    expect(early.listsPerRequest).toEqual([1]);
  });

  it("continues across the page cap and the event limit without repeating or skipping an event", async () => {
    const user = await busyAccount();
    const across = await listAll(user, 950, 1_060, "100");
    expect(across.seen).toEqual(range(950, 1_060));
    expect(Math.max(...across.listsPerRequest)).toBeLessThanOrEqual(MAX_PAGES_PER_LISTING);
    const small = await listAll(user, 900, 1_150, "9");
    expect(small.seen).toEqual(range(900, 1_150));
  });
});

describe("usage outbox", () => {
  const usage = { tokens_in: 1, tokens_out: 1, provider: "groq", model: "groq/gpt-oss-20b", estimated: false };

  /** A KV whose writes fail while `down` says so, recording what it was asked to write. */
  function flakyKv(down: (key: string) => boolean) {
    const written: string[] = [];
    const kv = {
      async put(key: string) {
        if (down(key)) throw new Error("KV unavailable");
        written.push(key);
      },
    } as unknown as KVNamespace;
    return { kv, written };
  }

  it("keeps events queued while KV fails, then carries them in one write (and one to the hour index)", async () => {
    const user = await newAccount();
    await billing().openAllowance(
      user,
      { id: "outbox-al", min_micro: 0, want_micro: 1_000_000, want_slots: 0, ttl_seconds: 60 },
      call,
    );
    const draws = [1, 2, 3].map((i) => ({ id: `outbox-${i}`, cost_micro: 10, request_id: `r-${i}`, usage }));
    await billing().settleAllowance(user, "outbox-al", draws, null, call);
    let down = true;
    const { kv, written } = flakyKv(() => down);
    await runInDurableObject(ledger(user.sub), async (_instance, state) => {
      // The account's own alarm would carry the events to the real KV meanwhile.
      await state.storage.deleteAlarm();
      const sql = state.storage.sql;
      await expect(carryUsage(sql, kv, user.sub, 3600)).rejects.toThrow("KV unavailable");
      expect(sql.exec("SELECT COUNT(*) AS n FROM usage_outbox").one().n).toBe(3);
      down = false;
      await carryUsage(sql, kv, user.sub, 3600);
      expect(sql.exec("SELECT COUNT(*) AS n FROM usage_outbox").one().n).toBe(0);
    });
    expect(written.map((key) => key.split(":")[0])).toEqual(["uhour", "usage"]);
  });

  it("carries an event that keeps failing alone, and finally drops it without blocking the rest", async () => {
    const user = await newAccount();
    await billing().openAllowance(
      user,
      { id: "outbox-al2", min_micro: 0, want_micro: 1_000_000, want_slots: 0, ttl_seconds: 60 },
      call,
    );
    // The first event's key is refused for good; the second is fine.
    await billing().settleAllowance(
      user,
      "outbox-al2",
      [{ id: "poison", cost_micro: 10, request_id: "r-p", usage, at: Date.now() - 1_000 }],
      null,
      call,
    );
    await billing().settleAllowance(
      user,
      "outbox-al2",
      [{ id: "healthy", cost_micro: 10, request_id: "r-h", usage }],
      null,
      call,
    );
    const { kv, written } = flakyKv((key) => key.endsWith(":poison") || key.includes("poison"));
    await runInDurableObject(ledger(user.sub), async (_instance, state) => {
      // The account's own alarm would carry the events to the real KV meanwhile.
      await state.storage.deleteAlarm();
      const sql = state.storage.sql;
      const left = () => sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage_outbox").one().n;
      // A batch holding the poison event fails as a whole three times...
      for (let i = 0; i < 3; i++) await expect(carryUsage(sql, kv, user.sub, 3600)).rejects.toThrow();
      expect(left()).toBe(2);
      // ...then it goes alone (failing three more times) and is dropped; the healthy one is carried.
      for (let i = 0; i < 2; i++) await expect(carryUsage(sql, kv, user.sub, 3600)).rejects.toThrow();
      await carryUsage(sql, kv, user.sub, 3600);
      expect(left()).toBe(0);
    });
    expect(written.some((key) => key.endsWith(":healthy"))).toBe(true);
    expect(written.some((key) => key.includes("poison"))).toBe(false);
  });
});
