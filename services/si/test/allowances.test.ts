import {
  type AllowanceSettings,
  type AskResult,
  allowanceLine,
  type CallContext,
  CreditAllowances,
  type HeldCall,
  type Identity,
} from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { countingBilling } from "../../../test-support/counting-billing";
import { env } from "../../../test-support/mesh-env";
import { allowancesForTests } from "../src/credit-line";
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
  it("holds many asks with one ledger call, and charges each as its own entry", async () => {
    const user = await guest();
    const { billing, counts } = countingBilling(env.BILLING);
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "200", SI_SETTLE_BATCH_MS: "0" });
    const calls = Array.from({ length: 5 }, (_, i) => callNumbered(i));
    for (const [i, each] of calls.entries()) {
      const result = body(await service.ask(ASK, user, null, each));
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
    // Released when idle: nothing stays reserved. Requests are the gateway's to count, not SI's.
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (5 * COST) / 1e6, reserved: 0 });
    const limits = await env.BILLING.limits(user, call);
    expect(limits.rpm.remaining).toBe(limits.rpm.limit);
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

  it("counts no requests against the per-minute limit: the gateway counts each one before SI", async () => {
    const user = await guest();
    await env.BILLING.setLimits(user.sub, { rpm: 2 }, admin, call);
    const { seen } = fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si({ SI_ALLOWANCE_IDLE_MS: "0" });
    for (let i = 0; i < 3; i++) {
      const answer = await service.ask(ASK, user, null, callNumbered(i));
      expect(answer.dailyCredits).toMatchObject({ limit: 100 });
    }
    expect(seen).toHaveLength(3);
    await done();
    expect((await env.BILLING.limits(user, call)).rpm).toMatchObject({ limit: 2, remaining: 2 });
  });

  it("keeps charges the ledger could not take and writes them with the next settlement", async () => {
    const user = await guest();
    // Every attempt of the first settlement fails (nine, over about six seconds).
    const { billing, counts } = countingBilling(env.BILLING, 9);
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
      idleMs: 0,
      batchMs: 0,
      callTtlSeconds: 60,
    };
    const background: Promise<unknown>[] = [];
    const options = {
      call,
      waitUntil: (promise: Promise<unknown>) => background.push(promise),
      sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    };
    // Two isolates: each has its own registry, as two instances of SI would.
    const registries = [new CreditAllowances(), new CreditAllowances()];
    const lines = registries.map((registry) =>
      allowanceLine(() => registry.account(env.BILLING, user, settings), options),
    );
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

  it("holds a stream in the ledger on its own, without an allowance", async () => {
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
    const answer = await service.ask({ ...ASK, stream: true }, user, null, callNumbered(0));
    if (!("stream" in answer)) throw new Error("expected a stream");
    const events = await readEvents(answer.stream);
    expect(events.at(-1)?.event).toBe("done");
    await done();
    // Charged, and nothing stays reserved.
    expect(await balanceOf(user)).toMatchObject({ reserved: 0 });
    expect((await balanceOf(user)).balance).toBeLessThan(0.001);
  });

  it("keeps nothing for an account whose calls fail before they hold credits", async () => {
    const user = await guest();
    const poor = await guest();
    await env.BILLING.setLimits(user.sub, { daily_credits: 0.000001 }, admin, call);
    const { seen } = fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const { service, done } = si();
    const failing = [
      // Refused by the plan: an unknown model, a prompt over the context window.
      { who: user, ask: { ...ASK, model: "nobody/nothing" }, code: "invalid_input" },
      { who: user, ask: { ...ASK, prompt: "a ".repeat(140_000) }, code: "invalid_input" },
      // Refused by the ledger: over the daily budget (429), more than the balance (402).
      { who: user, ask: ASK, code: "rate_limited" },
      { who: poor, ask: { ...ASK, model: "openai/gpt-4o", max_tokens: 16_000 }, code: "insufficient_credits" },
    ];
    for (let round = 0; round < 5; round++) {
      for (const { who, ask, code } of failing) {
        const refused = await service.ask(ask, who, null, callNumbered(round)).catch((error) => error);
        expect(refused).toMatchObject({ name: "ServiceError", code });
      }
    }
    expect(seen).toHaveLength(0);
    expect(allowancesForTests.keeps(user.sub)).toBe(false);
    expect(allowancesForTests.keeps(poor.sub)).toBe(false);
    await done();
  });

  it("refuses a keyed ask whose charge cannot be written, so a retry runs it again", async () => {
    const user = await guest();
    const { billing } = countingBilling(env.BILLING, 1_000);
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
    const { billing } = countingBilling(env.BILLING, 9);
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
});
