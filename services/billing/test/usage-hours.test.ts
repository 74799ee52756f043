import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { HourUsageEvent } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { recordUsage, recordUsageBatch, type UsageRecord } from "../src/usage";
import { EVENTS_PER_HOUR_PAGE, HOUR_MS, hourKeyFor } from "../src/usage-hours";
import { admin, billing, call, codeOf, ledger, newAccount } from "./helpers";

// Each test owns an hour of its own in 2021: the hour index is shared by every account, and other
// tests write events in the current hour.
let nextHour = Date.UTC(2021, 0, 1) + Math.floor(Math.random() * 10_000) * HOUR_MS;
function ownHour(): number {
  nextHour += 7 * HOUR_MS;
  return nextHour;
}

function record(account: string, at: number, id: string, extra: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id,
    account,
    at,
    requestId: `req-${id}`,
    tokensIn: 10,
    tokensOut: 5,
    provider: "groq",
    model: "groq/gpt-oss-20b",
    creditsMicro: 7,
    source: "si",
    ...extra,
  };
}

/** Every event of an hour, page by page, with the page sizes. */
async function readHour(hour: number | string) {
  const events: HourUsageEvent[] = [];
  const pages: number[] = [];
  let reads = 0;
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const result = await billing().usageForHour(hour, cursor, call);
    events.push(...result.events);
    pages.push(result.events.length);
    reads += result.kv_reads;
    cursor = result.cursor;
    if (cursor === null) return { events, pages, reads };
  }
  throw new Error("the hour never ended");
}

// Some tests write a thousand keys or more, which takes a few seconds on a busy machine.
describe("usage events by hour", { timeout: 60_000 }, () => {
  it("reads one hour's events of every account, and none of the hours around it", async () => {
    const hour = ownHour();
    const a = "guest:aaaa-1";
    const b = "email:b:colon@example.com";
    await recordUsage(env.KV_BILLING, record(a, hour - 1, "before"), 3600);
    await recordUsage(env.KV_BILLING, record(a, hour, "first", { tokensIn: 1 }), 3600);
    await recordUsage(env.KV_BILLING, record(b, hour + 1000, "embed:x:1", { tokensIn: 2, source: "rag" }), 3600);
    await recordUsage(
      env.KV_BILLING,
      record(a, hour + HOUR_MS - 1, "last", { tokensIn: 3, characters: 40, audioMs: 1500, source: "voice" }),
      3600,
    );
    await recordUsage(env.KV_BILLING, record(b, hour + HOUR_MS, "after"), 3600);
    const { events } = await readHour(new Date(hour).toISOString());
    expect(events.map((e) => [e.account, e.id, e.tokens_in, e.source]).sort()).toEqual(
      [
        [a, "first", 1, "si"],
        [b, "embed:x:1", 2, "rag"],
        [a, "last", 3, "voice"],
      ].sort(),
    );
    expect(events.find((e) => e.id === "last")).toMatchObject({
      characters: 40,
      audio_seconds: 1.5,
      credits: 0.000007,
    });
    // Epoch milliseconds name the same hour.
    expect((await readHour(hour)).events).toHaveLength(3);
  });

  it("splits a settlement across the hours it spans, one hour key per hour, the listing unchanged", async () => {
    const user = await newAccount();
    const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
    const records = [
      record(user.sub, hour + HOUR_MS - 20, "s1"),
      record(user.sub, hour + HOUR_MS - 10, "s2"),
      record(user.sub, hour + HOUR_MS + 10, "s3"),
    ];
    await recordUsageBatch(env.KV_BILLING, user.sub, records, 3600);
    const earlier = (await readHour(hour)).events.filter((e) => e.account === user.sub);
    const later = (await readHour(hour + HOUR_MS)).events.filter((e) => e.account === user.sub);
    expect(earlier.map((e) => e.id)).toEqual(["s1", "s2"]);
    expect(later.map((e) => e.id)).toEqual(["s3"]);
    const keys = await env.KV_BILLING.list({ prefix: hourKeyFor(user.sub, hour, "").split(":").slice(0, 2).join(":") });
    expect(keys.keys.filter((k) => k.name.includes(user.sub)).map((k) => k.metadata)).toEqual([
      { batch: 2, first: hour + HOUR_MS - 20, last: hour + HOUR_MS - 10 },
    ]);
    // Writing the same settlement again (an outbox retry) adds nothing.
    await recordUsageBatch(env.KV_BILLING, user.sub, records, 3600);
    expect((await readHour(hour)).events.filter((e) => e.account === user.sub)).toHaveLength(2);
    const listed = await billing().listUsage(
      user,
      { from: new Date(hour).toISOString(), to: new Date(hour + 2 * HOUR_MS).toISOString() },
      call,
    );
    expect(listed.events.map((e) => e.id)).toEqual(["s1", "s2", "s3"]);
  });

  it("indexes the events the ledger's outbox carries, embeddings marked as RAG's", async () => {
    const user = await newAccount();
    const hold = await billing().reserve(user, "hour-hold-1", 500, 60, call);
    expect(hold.amount_micro).toBe(500);
    await billing().settle(user, "hour-hold-1", 120, call, {
      tokens_in: 64,
      tokens_out: 0,
      provider: "workers-ai",
      model: "@cf/baai/bge-base-en-v1.5",
      estimated: true,
      source: "rag",
    });
    await runDurableObjectAlarm(ledger(user.sub));
    const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    // The charge may have landed just before the hour turned.
    const mine = [...(await readHour(hour)).events, ...(await readHour(hour - HOUR_MS)).events].filter(
      (e) => e.account === user.sub,
    );
    expect(mine).toMatchObject([
      { source: "rag", tokens_in: 64, credits: 0.00012, model: "@cf/baai/bge-base-en-v1.5" },
    ]);
  });

  it("pages an hour with more events than one page holds, each event exactly once", async () => {
    const hour = ownHour();
    // Eleven batches of 500 events, over three accounts: more than EVENTS_PER_HOUR_PAGE.
    const expected: string[] = [];
    for (let batch = 0; batch < 11; batch++) {
      const account = `guest:pager-${batch % 3}`;
      const records = Array.from({ length: 500 }, (_, i) => record(account, hour + batch * 1000 + i, `b${batch}-${i}`));
      expected.push(...records.map((r) => `${account}/${r.id}`));
      await recordUsageBatch(env.KV_BILLING, account, records, 3600);
    }
    const { events, pages, reads } = await readHour(hour);
    expect(pages.length).toBeGreaterThan(1);
    // One list per page and one get per batch: the hour's keys, nothing else.
    expect(reads).toBe(pages.length + 11);
    expect(Math.max(...pages)).toBeLessThanOrEqual(EVENTS_PER_HOUR_PAGE);
    expect(events.map((e) => `${e.account}/${e.id}`).sort()).toEqual(expected.sort());
  });

  it("pages an hour with more keys than one KV list returns, and resumes past keys written meanwhile", async () => {
    const hour = ownHour();
    const ids = Array.from({ length: 1_100 }, (_, i) => `k${String(i).padStart(4, "0")}`);
    for (let at = 0; at < ids.length; at += 100)
      await Promise.all(
        ids
          .slice(at, at + 100)
          .map((id, i) => recordUsage(env.KV_BILLING, record(`guest:many-${i % 7}`, hour + i, id), 3600)),
      );
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await billing().usageForHour(hour, cursor, call);
      for (const event of page.events) {
        expect(seen.has(`${event.account}/${event.id}`)).toBe(false);
        seen.add(`${event.account}/${event.id}`);
      }
      cursor = page.cursor;
      pages += 1;
      // A late event sorting before the page boundary: the next run of the hour reads it.
      if (pages === 1) await recordUsage(env.KV_BILLING, record("guest:aaa-late", hour + 5, "late"), 3600);
    } while (cursor !== null && pages < 50);
    expect(seen.size).toBeGreaterThanOrEqual(1_100);
    expect((await readHour(hour)).events).toHaveLength(1_101);
  });

  it("refuses what is not an hour or not its cursor", async () => {
    const hour = ownHour();
    await recordUsage(env.KV_BILLING, record("guest:x", hour, "only"), 3600);
    for (const bad of [hour + 1, "yesterday", -HOUR_MS, Number.NaN, null, { hour }])
      expect(await codeOf(billing().usageForHour(bad, null, call))).toBe("invalid_input");
    for (const bad of [
      "not-a-cursor",
      btoa(JSON.stringify({ hour: hour + HOUR_MS, kv: null, key: null })),
      "x".repeat(5000),
    ])
      expect(await codeOf(billing().usageForHour(hour, bad, call))).toBe("invalid_input");
  });

  it("prunes expired hour keys with the accounts' keys", async () => {
    const hour = ownHour();
    await recordUsage(env.KV_BILLING, record("guest:old", hour, "old"), 3600);
    expect((await readHour(hour)).events).toHaveLength(1);
    const pruned = await billing().pruneUsage(admin, call);
    expect(pruned.deleted).toBeGreaterThanOrEqual(2);
    expect((await readHour(hour)).events).toHaveLength(0);
  });
});
