// Voice calls draw their holds from the account's credit allowance in this isolate (the machinery SI
// uses, shared/src/allowances.ts): a warm allowance makes no ledger call before the provider, the
// ledger still refuses what the balance cannot cover (402 before any provider), each call is still
// its own exact ledger entry with its usage event, and concurrent calls never spend past the balance.

import type { CallContext, Identity } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { countingBilling } from "../../../test-support/counting-billing";
import { env } from "../../../test-support/mesh-env";
import { voiceAllowancesForTests } from "../src/credits";
import { voiceCircuits } from "../src/routing";
import { audioBody, audioStream, balanceOf, bytesOf, call, fakeCartesia, guest, voice, wav } from "./flow-helpers";

// Cartesia alone: 5,000 micro-credits a character, so 10 characters cost 0.05 credits.
const CARTESIA_ONLY = { AI: undefined } as unknown as Partial<VoiceEnv>;

beforeEach(() => voiceCircuits.reset());
afterEach(() => vi.restoreAllMocks());

function callNumbered(i: number): CallContext {
  return { requestId: `voice-allowance-${i}-${crypto.randomUUID()}` };
}

async function settleEntries(user: Identity) {
  const { entries } = await env.BILLING.history(user, { limit: "100" }, call);
  return entries.filter((entry) => entry.kind === "settle");
}

/** Speaks `text` through its own entrypoint (its own request) and reads the whole answer. */
async function speak(overrides: Partial<VoiceEnv>, user: Identity, text: string, each: CallContext) {
  const { service, done } = voice({ ...CARTESIA_ONLY, ...overrides });
  try {
    const answer = await service.speech({ text }, user, each);
    await bytesOf(answer.stream);
    return answer;
  } finally {
    await done();
  }
}

describe("voice calls held against an allowance", () => {
  it("makes no ledger call before the provider while the allowance is warm, and charges each call exactly", {
    timeout: 20_000,
  }, async () => {
    const user = await guest();
    const { billing, counts } = countingBilling(env.BILLING);
    const { seen } = fakeCartesia((request) =>
      request.path.startsWith("/stt")
        ? Response.json({ type: "transcript", text: "hi", duration: 2, language: "en", words: [] })
        : audioStream(2, 100).response,
    );
    // One entrypoint serving many calls, so the allowance stays warm between them (idle 5 s).
    const { service, done } = voice({
      ...CARTESIA_ONLY,
      BILLING: billing,
      VOICE_ALLOWANCE_IDLE_MS: "5000",
      VOICE_SETTLE_BATCH_MS: "0",
    });
    const calls = Array.from({ length: 6 }, (_, i) => callNumbered(i));
    const ledgerCallsBefore: number[] = [];
    for (const [i, each] of calls.entries()) {
      const before = counts.openAllowance + counts.reserve;
      const answer = await service.speech({ text: "0123456789" }, user, each);
      ledgerCallsBefore.push(counts.openAllowance + counts.reserve - before);
      // The balance header already counts this call and every earlier one.
      expect(answer.meter.creditsBalance).toBe(String(Number((5 - (i + 1) * 0.05).toFixed(6))));
      expect(answer.meter.creditsUsed).toBe("0.05");
      await bytesOf(answer.stream);
    }
    // A transcription draws on the same allowance.
    const { body, meta } = audioBody(wav(2));
    const heard = await service.transcribe(body, meta, {}, user, callNumbered(99));
    expect(heard.body.credits_used).toBe(0.01);
    // The first call opened the allowance; no later one asked the ledger for anything first.
    expect(ledgerCallsBefore).toEqual([1, 0, 0, 0, 0, 0]);
    expect(counts).toMatchObject({ openAllowance: 1, reserve: 0, settle: 0, void: 0 });
    expect(seen).toHaveLength(7);
    await done();
    expect(counts.settleAllowance).toBeGreaterThanOrEqual(1);
    const entries = await settleEntries(user);
    expect(entries).toHaveLength(7);
    expect(entries.every((entry) => entry.hold_id?.startsWith("allowance:"))).toBe(true);
    expect(
      entries
        .filter((entry) => entry.amount === -0.05)
        .map((entry) => entry.request_id)
        .sort(),
    ).toEqual(calls.map((c) => c.requestId).sort());
    // Released once idle: exactly what was spoken and heard is charged, nothing stays reserved.
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - 6 * 0.05 - 0.01, reserved: 0 });
    expect(voiceAllowancesForTests.keeps(user.sub)).toBe(false);
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, { limit: "50" }, call);
        expect(usage.events).toHaveLength(7);
        expect(usage.events.filter((event) => event.characters === 10)).toHaveLength(6);
        expect(usage.events.every((event) => event.source === "voice")).toBe(true);
      },
      { timeout: 5000, interval: 100 },
    );
  });

  it("answers 402 before any provider is called when a warm allowance and the balance cannot cover a call", {
    timeout: 20_000,
  }, async () => {
    const user = await guest();
    const { billing, counts } = countingBilling(env.BILLING);
    const { seen } = fakeCartesia(() => audioStream(1, 100).response);
    const overrides = { BILLING: billing, VOICE_ALLOWANCE_IDLE_MS: "5000", VOICE_SETTLE_BATCH_MS: "0" };
    const { service, done } = voice({ ...CARTESIA_ONLY, ...overrides });
    await bytesOf((await service.speech({ text: "0123456789" }, user, callNumbered(0))).stream);
    expect(seen).toHaveLength(1);
    // 1,000 characters cost 5 credits, more than the 4.95 left (2.45 of it in the allowance).
    await expect(service.speech({ text: "a".repeat(1000) }, user, callNumbered(1))).rejects.toMatchObject({
      code: "insufficient_credits",
      status: 402,
    });
    expect(seen).toHaveLength(1);
    // A call the allowance covers still goes ahead, without another ledger call.
    const opened = counts.openAllowance;
    await bytesOf((await service.speech({ text: "0123456789" }, user, callNumbered(2))).stream);
    expect(seen).toHaveLength(2);
    expect(counts.openAllowance).toBe(opened);
    await done();
    expect(await balanceOf(user)).toMatchObject({ balance: 4.9, reserved: 0 });
    expect(await settleEntries(user)).toHaveLength(2);
  });

  it("never lets concurrent speech spend past the balance", async () => {
    const user = await guest();
    const { seen } = fakeCartesia(() => audioStream(3, 200).response);
    // Twelve requests at once, each 100 characters (0.5 credits): the guest's 5 credits cover ten.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        speak({ VOICE_SETTLE_BATCH_MS: "0" }, user, "x".repeat(100), callNumbered(i)),
      ),
    );
    const served = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const refused = outcomes.filter((outcome) => outcome.status === "rejected") as PromiseRejectedResult[];
    for (const outcome of refused) expect(outcome.reason).toMatchObject({ code: "insufficient_credits" });
    expect(served).toHaveLength(10);
    // A refused call reached no provider.
    expect(seen).toHaveLength(10);
    const entries = await settleEntries(user);
    expect(entries).toHaveLength(10);
    expect(entries.every((entry) => entry.amount === -0.5)).toBe(true);
    expect(await balanceOf(user)).toMatchObject({ balance: 0, reserved: 0 });
  });

  it("retries a settlement the ledger did not take, charging the call once", async () => {
    const user = await guest();
    // The first two attempts fail; the third, after about 75 ms of backoff, is taken.
    const { billing, counts } = countingBilling(env.BILLING, 2);
    fakeCartesia(() => audioStream(2, 100).response);
    await speak({ BILLING: billing, VOICE_SETTLE_BATCH_MS: "0" }, user, "0123456789", callNumbered(0));
    expect(counts.settleAllowance).toBeGreaterThanOrEqual(3);
    const entries = await settleEntries(user);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.amount).toBe(-0.05);
    expect(await balanceOf(user)).toMatchObject({ balance: 4.95, reserved: 0 });
  });

  it("answers a keyed voice loop 503 when its charges cannot be written, and a retry charges each stage once", {
    timeout: 30_000,
  }, async () => {
    const user = await guest();
    // Every attempt of the first settlement fails (nine, over about six seconds).
    const { billing, counts } = countingBilling(env.BILLING, 9);
    fakeCartesia((request) =>
      request.path.startsWith("/stt")
        ? Response.json({ type: "transcript", text: "hello there", duration: 2, language: "en", words: [] })
        : audioStream(2, 500).response,
    );
    const loop = async () => {
      const { body, meta } = audioBody(wav(2));
      const { service, done } = voice({ ...CARTESIA_ONLY, BILLING: billing, VOICE_SETTLE_BATCH_MS: "0" });
      try {
        return await service.ask(body, meta, {}, user, "allowance-loop-key", call);
      } finally {
        await done();
      }
    };
    // Nothing is stored for replay while the charges are not in the ledger.
    await expect(loop()).rejects.toMatchObject({ code: "upstream_unavailable" });
    expect(counts.settleAllowance).toBeGreaterThanOrEqual(9);
    // SI's charge is in; hearing and speaking are kept in this instance for its next settlement.
    const written = await settleEntries(user);
    expect(written.filter((entry) => entry.id.startsWith("settle:vloop:"))).toHaveLength(0);
    expect(written).toHaveLength(1);
    const retried = await loop();
    expect(retried.body.audio).not.toBeNull();
    const charged = (await settleEntries(user)).filter((entry) => entry.amount !== 0);
    // Hearing, asking and speaking, once each, though the retry spoke again: the kept charges went
    // with the retry's settlement, its speech under the same charge id.
    expect(charged).toHaveLength(3);
    expect(charged.filter((entry) => entry.id.startsWith("settle:vloop:"))).toHaveLength(2);
    const spent = charged.reduce((sum, entry) => sum - entry.amount, 0);
    expect(await balanceOf(user)).toMatchObject({ reserved: 0 });
    expect((await balanceOf(user)).balance).toBeCloseTo(5 - spent, 6);
  });

  it("keeps nothing for an account whose call is refused before it holds credits", async () => {
    const user = await guest();
    const { billing, counts } = countingBilling(env.BILLING);
    const { seen } = fakeCartesia(() => audioStream(1, 100).response);
    const { service, done } = voice({ ...CARTESIA_ONLY, BILLING: billing });
    await expect(service.speech({ text: "hi", voice: "no-such-voice" }, user, callNumbered(0))).rejects.toMatchObject({
      code: "invalid_input",
    });
    await done();
    expect(seen).toHaveLength(0);
    expect(counts.openAllowance).toBe(0);
    expect(voiceAllowancesForTests.keeps(user.sub)).toBe(false);
  });
});
