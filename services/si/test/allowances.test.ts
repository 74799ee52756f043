import { env } from "cloudflare:workers";
import type { AskResult, CallContext, Identity } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type AllowanceSettings, allowanceLine, CreditAllowances } from "../src/allowances";
import type { HeldCall } from "../src/credit-line";
import type { JsonAnswer, StreamedAnswer } from "../src/index";
import { routerState } from "../src/router";
import { admin, balanceOf, call, completion, fakeProviders, guest, si } from "./helpers";

// 10 tokens in × 7.5 + 10 out × 30 micro-credits on groq/gpt-oss-20b.
const COST = 375;
const ASK = { prompt: "hi", model: "groq/gpt-oss-20b", max_tokens: 16 };

function body(answer: JsonAnswer<AskResult> | StreamedAnswer): AskResult {
  if ("stream" in answer) throw new Error("expected a JSON answer");
  return answer.body;
}

/** The real billing binding, counting allowance calls; settlements can be made to fail first. */
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
    reserve: real.reserve.bind(real),
    settle: real.settle.bind(real),
    void: real.void.bind(real),
    beginOperation: real.beginOperation.bind(real),
    completeOperation: real.completeOperation.bind(real),
    abandonOperation: real.abandonOperation.bind(real),
  } as unknown as Env["BILLING"];
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
    // Every attempt of the first settlement fails.
    const { billing, counts } = countingBilling(3);
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 10 }));
    const first = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    await first.service.ask(ASK, user, null, callNumbered(0));
    await first.done();
    expect(counts.settleAllowance).toBe(3);
    expect(await settleEntries(user)).toHaveLength(0);
    const second = si({ BILLING: billing, SI_ALLOWANCE_IDLE_MS: "0", SI_SETTLE_BATCH_MS: "0" });
    await second.service.ask(ASK, user, null, callNumbered(1));
    await second.done();
    expect(await settleEntries(user)).toHaveLength(2);
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (2 * COST) / 1e6, reserved: 0 });
  });

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
    const lines = [new CreditAllowances(), new CreditAllowances()].map((registry) =>
      allowanceLine(registry.account(env.BILLING, user, settings), options),
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
  });
});
