import { env } from "cloudflare:workers";
import type { AskResult, CallContext, Identity } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AccountCredits, type AllowanceSettings, CreditAllowances } from "../src/allowances";
import { allowanceLine, type HeldCall } from "../src/credit-line";
import type { JsonAnswer, StreamedAnswer } from "../src/index";
import { routerState } from "../src/router";
import { admin, balanceOf, call, completion, fakeProviders, guest, readEvents, si, streamOf } from "./helpers";

// 10 tokens in × 7.5 + 10 out × 30 micro-credits on groq/gpt-oss-20b.
const COST = 375;
const ASK = { prompt: "hi", model: "groq/gpt-oss-20b", max_tokens: 16 };

function body(answer: JsonAnswer<AskResult> | StreamedAnswer): AskResult {
  if ("stream" in answer) throw new Error("expected a JSON answer");
  return answer.body;
}

/**
 * The real billing binding, counting allowance calls; settlements can be made to fail first. Every
 * method is wrapped, never `bind`-ed: on an RPC binding `.bind` would itself be a remote call.
 */
function countingBilling(settleFailures = 0) {
  const counts = { openAllowance: 0, settleAllowance: 0 };
  let failures = settleFailures;
  const real = env.BILLING;
  const billing = {
    openAllowance: (...args: Parameters<typeof real.openAllowance>) => {
      counts.openAllowance += 1;
      return real.openAllowance(...args);
    },
    settleAllowance: (...args: Parameters<typeof real.settleAllowance>) => {
      counts.settleAllowance += 1;
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error("billing unreachable"));
      }
      return real.settleAllowance(...args);
    },
    reserve: (...args: Parameters<typeof real.reserve>) => real.reserve(...args),
    settle: (...args: Parameters<typeof real.settle>) => real.settle(...args),
    void: (...args: Parameters<typeof real.void>) => real.void(...args),
    beginOperation: (...args: Parameters<typeof real.beginOperation>) => real.beginOperation(...args),
    completeOperation: (...args: Parameters<typeof real.completeOperation>) => real.completeOperation(...args),
    abandonOperation: (...args: Parameters<typeof real.abandonOperation>) => real.abandonOperation(...args),
  } as unknown as SiEnv["BILLING"];
  return { billing, counts };
}

function callNumbered(i: number): CallContext {
  return { requestId: `allowance-test-${i}-${crypto.randomUUID()}` };
}

async function settleEntries(user: Identity) {
  const { entries } = await env.BILLING.history(user, { limit: "50" }, call);
  return entries.filter((entry) => entry.kind === "settle");
}

beforeEach(() => routerState.reset());
afterEach(() => vi.restoreAllMocks());

describe("credit allowances", () => {
  it("admits and holds many asks with one ledger call, and charges each as its own entry", async () => {
    const user = await guest();
    const { billing, counts } = countingBilling();
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "200", SI_SETTLE_BATCH_MS: "0" });
    const calls = Array.from({ length: 5 }, (_, i) => callNumbered(i));
    for (const [i, each] of calls.entries()) {
      const result = body(await service.ask(ASK, user, null, each, { countRequest: true }));
      // Each answer already carries the balance after its own charge.
      expect(result.balance).toBeCloseTo(5 - ((i + 1) * COST) / 1e6, 6);
    }
    expect(counts.openAllowance).toBe(1);
    await done();
    expect(counts.settleAllowance).toBeGreaterThanOrEqual(1);
    const entries = await settleEntries(user);
    expect(entries).toHaveLength(5);
    expect(new Set(entries.map((e) => e.request_id))).toEqual(new Set(calls.map((c) => c.requestId)));
    for (const entry of entries) {
      expect(entry.amount).toBe(-COST / 1e6);
      expect(entry.hold_id).toMatch(/^allowance:/);
    }
    // Released when idle: nothing stays reserved, and the unused request slots are given back.
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (5 * COST) / 1e6, reserved: 0 });
    const limits = await env.BILLING.limits(user, call);
    expect(limits.rpm.remaining).toBe(limits.rpm.limit - 5);
  });

  it("answers before the ledger is written, and the ledger catches up", async () => {
    const user = await guest();
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ SI_SETTLE_BATCH_MS: "300", SI_ALLOWANCE_IDLE_MS: "600" });
    const result = body(await service.ask(ASK, user, null, callNumbered(0)));
    expect(result.balance).toBeCloseTo(5 - COST / 1e6, 6);
    // Not yet charged: the call's worst case is still held by the allowance instead.
    const meanwhile = await balanceOf(user);
    expect(meanwhile.balance).toBe(5);
    expect(meanwhile.reserved).toBeGreaterThan(0);
    await done();
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - COST / 1e6, reserved: 0 });
  });

  it("429s an ask over the per-minute limit before any provider is called", async () => {
    const user = await guest();
    await env.BILLING.setLimits(user.sub, { rpm: 2 }, admin, call);
    const { seen } = fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ SI_ALLOWANCE_IDLE_MS: "0" });
    await service.ask(ASK, user, null, callNumbered(0), { countRequest: true });
    const second = await service.ask(ASK, user, null, callNumbered(1), { countRequest: true });
    expect(second.limits?.rpm).toMatchObject({ limit: 2, remaining: 0 });
    const refused = await service.ask(ASK, user, null, callNumbered(2), { countRequest: true }).catch((e) => e);
    expect(refused).toMatchObject({ name: "ServiceError", code: "rate_limited" });
    expect(refused.details).toMatchObject({ limit: "rpm", limits: { rpm: { limit: 2, remaining: 0 } } });
    expect(seen).toHaveLength(2);
    // Jobs' asks are not counted against the caller's requests per minute.
    await service.ask(ASK, user, null, callNumbered(3));
    expect(seen).toHaveLength(3);
    await done();
  });

  it("keeps charges the ledger could not take and writes them with the next settlement", async () => {
    const user = await guest();
    // Every attempt of the first settlement fails (nine, over about six seconds).
    const { billing, counts } = countingBilling(9);
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const first = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    await first.service.ask(ASK, user, null, callNumbered(0));
    await first.done();
    expect(counts.settleAllowance).toBe(9);
    expect(await settleEntries(user)).toHaveLength(0);
    const second = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    await second.service.ask(ASK, user, null, callNumbered(1));
    await second.done();
    expect(await settleEntries(user)).toHaveLength(2);
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (2 * COST) / 1e6, reserved: 0 });
  }, 20_000);

  it("never lets two instances hold more than the account has", async () => {
    const user = await guest();
    const settings: AllowanceSettings = {
      targetMicro: 2_000_000,
      slotsAhead: 64,
      idleMs: 0,
      batchMs: 0,
      callTtlSeconds: 60,
    };
    const background: Promise<unknown>[] = [];
    const options = {
      countRequest: false,
      call,
      waitUntil: (promise: Promise<unknown>) => background.push(promise),
      sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    };
    // Two isolates: each has its own registry, as two instances of SI would.
    const registries = [new CreditAllowances(), new CreditAllowances()];
    const lines = registries.map((registry) => allowanceLine(registry.account(env.BILLING, user, settings), options));
    const holds = await Promise.all(
      lines.flatMap((line, l) => Array.from({ length: 20 }, (_, i) => line.hold(`race-${l}-${i}`, 300_000, 60))),
    );
    const granted = holds.filter((held): held is HeldCall => held !== null);
    // 5 credits cover at most 16 holds of 0.3; fragmentation between the two may cost a few.
    expect(granted.length).toBeLessThanOrEqual(16);
    expect(granted.length).toBeGreaterThanOrEqual(12);
    const usage = { tokens_in: 1, tokens_out: 1, provider: "groq", model: "groq/gpt-oss-20b", estimated: false };
    await Promise.all(granted.map((held) => held.settle(300_000, usage)));
    await Promise.all(lines.map((line) => line.settled()));
    while (background.length > 0) await background.shift();
    const after = await balanceOf(user);
    expect(after.balance).toBeCloseTo(5 - granted.length * 0.3, 6);
    expect(after.reserved).toBe(0);
    // Once released and idle, the instances forget the account.
    expect(registries.map((registry) => registry.size)).toEqual([0, 0]);
  });

  it("counts a stream without reserving credits for calls it will not make", async () => {
    const user = await guest();
    // Leave 0.001 credits: enough for this stream's own hold, far less than an allowance.
    await env.BILLING.adjust(
      { account: user.sub, delta: -4.999, reason: "test: nearly empty" },
      `drain-${user.sub}`,
      admin,
      call,
    );
    fakeProviders(() => streamOf(["o", "k"], { usage: { prompt_tokens: 10, completion_tokens: 2 } }));
    const { service, done } = si({ SI_ALLOWANCE_IDLE_MS: "50" });
    const answer = await service.ask({ ...ASK, stream: true }, user, null, callNumbered(0), { countRequest: true });
    if (!("stream" in answer)) throw new Error("expected a stream");
    const events = await readEvents(answer.stream);
    expect(events.at(-1)?.event).toBe("done");
    await done();
    // Its slot stays counted; nothing stays reserved, and the other slots went back.
    expect((await balanceOf(user)).reserved).toBe(0);
    const limits = await env.BILLING.limits(user, call);
    expect(limits.rpm.remaining).toBe(limits.rpm.limit - 1);
  });

  it("refuses a keyed ask whose charge cannot be written, so a retry runs it again", async () => {
    const user = await guest();
    const { billing } = countingBilling(1_000);
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    const refused = await service.ask(ASK, user, "user:unwritten", callNumbered(0)).catch((error) => error);
    expect(refused).toMatchObject({ name: "ServiceError", code: "upstream_unavailable" });
    // The answer was not stored: the key is free for a retry.
    const again = await env.BILLING.beginOperation(user, "ask:user:unwritten", JSON.stringify(ASK), call);
    expect(again).toMatchObject({ state: "new" });
    await env.BILLING.abandonOperation(user, "ask:user:unwritten", call);
    await done();
  }, 30_000);

  it("charges a keyed ask once when a retry runs it again", async () => {
    const user = await guest();
    // The first run's charge cannot be written (every attempt of its settlement fails)...
    const { billing } = countingBilling(9);
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const first = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    const refused = await first.service.ask(ASK, user, "user:twice", callNumbered(0)).catch((error) => error);
    expect(refused).toMatchObject({ code: "upstream_unavailable" });
    await first.done();
    // ...so the client retries under the same key; the ledger now answers and gets both charges.
    const second = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    const answer = body(await second.service.ask(ASK, user, "user:twice", callNumbered(1)));
    expect(answer.output).toBe("ok");
    await second.done();
    // Both runs charged under the key's ids: the ledger took one.
    expect(await settleEntries(user)).toHaveLength(1);
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - COST / 1e6, reserved: 0 });
  }, 30_000);

  it("reads the ledger's minute on the ledger's clock, so a skewed clock costs no extra grants", async () => {
    const skew = 30_000;
    const local = Math.floor(Date.now() / 60_000) * 60_000 + 45_000; // 15 s before the local minute ends
    const calls: number[] = [];
    const billing = {
      async openAllowance(_identity: Identity, request: { id: string; ttl_seconds: number; want_slots: number }) {
        const now = local + skew; // the ledger's minute has already turned
        calls.push(now);
        const limits = {
          rpm: { limit: 10, remaining: 10 - 5, reset_seconds: 30 },
          daily_credits: { limit: 100, remaining: 100, reset_seconds: 1 },
        };
        return {
          id: request.id,
          held_micro: 1_000_000,
          charged_micro: 0,
          window: Math.floor(now / 60_000),
          slots: 5,
          expires_at: now + request.ttl_seconds * 1000,
          balance_micro: 5_000_000,
          entry_seq: 1,
          limits,
          now,
          granted_micro: 1_000_000,
          granted_slots: request.want_slots > 0 ? 5 : 0,
        };
      },
      settleAllowance: async () => {
        throw new Error("not used");
      },
    } as unknown as SiEnv["BILLING"];
    let clock = local;
    const account = new AccountCredits(
      billing,
      { sub: "guest:skew", source: "jwt", admin: false },
      {
        targetMicro: 1_000_000,
        slotsAhead: 5,
        idleMs: 0,
        batchMs: 0,
        callTtlSeconds: 60,
      },
      () => clock,
      () => {},
    );
    expect(await account.take(1_000, true, 60, call)).not.toBeNull();
    clock += 5_000; // well past a fresh grant, still inside both minutes
    expect(await account.take(1_000, true, 60, call)).not.toBeNull();
    expect(calls).toHaveLength(1);
  });
});
