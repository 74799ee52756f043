import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { at, ledger } from "./helpers";

// A model of the ledger in plain numbers. Random sequences of grant, adjust, reserve, settle, void,
// allowances (open, grow, charge draws, release), expiry and replays run against the real Durable
// Object and the model side by side; after every step the outcomes must agree and the stored
// invariants must hold.

type HoldState = {
  amount: number;
  status: "open" | "settled" | "voided" | "expired";
  expiresAt: number;
  settled?: number;
};

class Model {
  balance = 0;
  reserved = 0;
  granted = false;
  now = Date.UTC(2031, 0, 1); // far ahead, so no real alarm fires during a run
  holds = new Map<string, HoldState>();
  allowances = new Map<string, { held: number; status: "open" | "released" | "expired"; expiresAt: number }>();
  settledDraws = new Set<string>();
  adjusts = new Map<string, { delta: number; reason: string }>();

  expire(): void {
    for (const hold of this.holds.values()) {
      if (hold.status === "open" && hold.expiresAt <= this.now) {
        hold.status = "expired";
        this.reserved -= hold.amount;
      }
    }
    for (const allowance of this.allowances.values()) {
      if (allowance.status === "open" && allowance.expiresAt <= this.now) {
        allowance.status = "expired";
        this.reserved -= allowance.held;
        allowance.held = 0;
      }
    }
  }
  get available(): number {
    return this.balance - this.reserved;
  }
}

type Real = { ledger: ReturnType<typeof ledger>; name: string };
type Outcome = { ok: true } | { ok: false; code: string };

function outcome(result: { ok: boolean; code?: string }): string {
  return result.ok ? "ok" : (result.code ?? "?");
}

async function check(model: Model, real: Real): Promise<void> {
  const snapshot = await real.ledger.snapshot(model.now);
  if (!snapshot.ok) throw new Error("snapshot failed");
  model.expire();
  expect({ balance: snapshot.value.balance, reserved: snapshot.value.reserved }).toEqual({
    balance: model.balance,
    reserved: model.reserved,
  });
  const audit = await real.ledger.audit();
  expect(audit.entriesSum).toBe(audit.balance);
  expect(audit.openHolds).toBe(audit.reserved);
  expect(audit.negativeBalances).toBe(0);
  expect(audit.balance - audit.reserved).toBeGreaterThanOrEqual(0);
}

const keys = fc.constantFrom("k1", "k2", "k3", "k4", "k5", "k6");
const holdIds = fc.constantFrom("h1", "h2", "h3", "h4");
const micro = fc.integer({ min: 1, max: 3_000_000 });

const grant = fc.integer({ min: 0, max: 5_000_000 }).map((amount) => ({
  toString: () => `grant(${amount})`,
  check: () => true,
  async run(model: Model, real: Real) {
    const result = await real.ledger.grantStarter(real.name, amount, at(model.now));
    expect(result.ok).toBe(true);
    if (!model.granted && amount > 0) {
      model.granted = true;
      model.balance += amount;
    }
    await check(model, real);
  },
}));

const adjust = fc
  .tuple(
    keys,
    fc.integer({ min: -4_000_000, max: 4_000_000 }).filter((d) => d !== 0),
    fc.constantFrom("a", "b"),
  )
  .map(([key, delta, reason]) => ({
    toString: () => `adjust(${key}, ${delta}, ${reason})`,
    check: () => true,
    async run(model: Model, real: Real) {
      model.expire();
      let expected: Outcome;
      const previous = model.adjusts.get(key);
      if (previous)
        expected =
          previous.delta === delta && previous.reason === reason
            ? { ok: true }
            : { ok: false, code: "idempotency_mismatch" };
      else if (delta < 0 && model.available + delta < 0) expected = { ok: false, code: "insufficient_credits" };
      else {
        expected = { ok: true };
        model.adjusts.set(key, { delta, reason });
        model.balance += delta;
      }
      expect(outcome(await real.ledger.adjust(key, delta, reason, at(model.now)))).toBe(
        expected.ok ? "ok" : expected.code,
      );
      await check(model, real);
    },
  }));

const reserve = fc.tuple(holdIds, micro, fc.integer({ min: 1_000, max: 60_000 })).map(([id, amount, ttl]) => ({
  toString: () => `reserve(${id}, ${amount}, ${ttl}ms)`,
  check: () => true,
  async run(model: Model, real: Real) {
    model.expire();
    let expected: string;
    const previous = model.holds.get(id);
    if (previous) expected = previous.amount === amount ? "ok" : "idempotency_mismatch";
    else if (amount > model.available) expected = "insufficient_credits";
    else {
      expected = "ok";
      model.holds.set(id, { amount, status: "open", expiresAt: model.now + ttl });
      model.reserved += amount;
    }
    expect(outcome(await real.ledger.reserve(id, amount, ttl, at(model.now)))).toBe(expected);
    await check(model, real);
  },
}));

const settle = fc.tuple(holdIds, fc.integer({ min: 0, max: 3_000_000 })).map(([id, actual]) => ({
  toString: () => `settle(${id}, ${actual})`,
  check: () => true,
  async run(model: Model, real: Real) {
    model.expire();
    const hold = model.holds.get(id);
    let expected: string;
    if (!hold) expected = "not_found";
    else if (hold.status === "settled") expected = hold.settled === actual ? "ok" : "idempotency_mismatch";
    else if (hold.status === "voided") expected = "conflict";
    else {
      // A cost above the hold (or after expiry) is charged from the available balance, never below zero.
      expected = "ok";
      if (hold.status === "open") model.reserved -= hold.amount;
      hold.status = "settled";
      hold.settled = actual;
      model.balance -= Math.min(actual, model.available);
    }
    expect(outcome(await real.ledger.settle(id, actual, at(model.now)))).toBe(expected);
    await check(model, real);
  },
}));

const release = holdIds.map((id) => ({
  toString: () => `void(${id})`,
  check: () => true,
  async run(model: Model, real: Real) {
    model.expire();
    const hold = model.holds.get(id);
    let expected: string;
    if (!hold) expected = "not_found";
    else if (hold.status === "settled") expected = "conflict";
    else {
      expected = "ok";
      if (hold.status === "open") {
        hold.status = "voided";
        model.reserved -= hold.amount;
      }
    }
    expect(outcome(await real.ledger.release(id, at(model.now)))).toBe(expected);
    await check(model, real);
  },
}));

const allowanceIds = fc.constantFrom("a1", "a2");

const openAllowance = fc
  .tuple(allowanceIds, fc.integer({ min: 0, max: 2_000_000 }), micro, fc.integer({ min: 1, max: 60 }))
  .map(([id, min, want, ttl]) => ({
    toString: () => `openAllowance(${id}, min ${min}, want ${want}, ${ttl}s)`,
    check: () => true,
    async run(model: Model, real: Real) {
      model.expire();
      const existing = model.allowances.get(id);
      let expected: string;
      if (existing && existing.status !== "open") expected = "conflict";
      else if (min > model.available) expected = "insufficient_credits";
      else {
        expected = "ok";
        // At least `min`; beyond it, no more than half of what is free.
        const free = model.available;
        const granted = Math.min(free, Math.max(min, Math.min(want, Math.floor(free / 2))));
        const expiresAt = Math.max(existing?.expiresAt ?? 0, model.now + ttl * 1000);
        model.allowances.set(id, { held: (existing?.held ?? 0) + granted, status: "open", expiresAt });
        model.reserved += granted;
      }
      const request = { id, min_micro: min, want_micro: want, want_slots: 0, ttl_seconds: ttl };
      const result = await real.ledger.openAllowance(real.name, request, at(model.now));
      expect(outcome(result)).toBe(expected);
      if (result.ok) expect(result.value.held_micro).toBe(model.allowances.get(id)?.held);
      await check(model, real);
    },
  }));

const drawIds = fc.constantFrom("d1", "d2", "d3", "d4", "d5", "d6");

const settleAllowance = fc
  .tuple(
    allowanceIds,
    fc.array(fc.tuple(drawIds, fc.integer({ min: 0, max: 1_500_000 })), { maxLength: 4 }),
    fc.boolean(),
  )
  .map(([id, draws, release]) => ({
    toString: () => `settleAllowance(${id}, ${JSON.stringify(draws)}, release ${release})`,
    check: () => true,
    async run(model: Model, real: Real) {
      model.expire();
      const allowance = model.allowances.get(id);
      let expected: string;
      if (!allowance) expected = "not_found";
      else {
        expected = "ok";
        for (const [drawId, cost] of draws) {
          if (model.settledDraws.has(drawId)) continue; // charged once, whatever the replay says
          model.settledDraws.add(drawId);
          // From the allowance first, then from the free balance, never below zero.
          const fromHeld = allowance.status === "open" ? Math.min(cost, allowance.held) : 0;
          const charged = fromHeld + Math.min(cost - fromHeld, model.available);
          allowance.held -= fromHeld;
          model.reserved -= fromHeld;
          model.balance -= charged;
        }
        if (release && allowance.status === "open") {
          model.reserved -= allowance.held;
          allowance.held = 0;
          allowance.status = "released";
        }
      }
      const result = await real.ledger.settleAllowance(
        id,
        draws.map(([drawId, cost]) => ({ id: drawId, cost_micro: cost, request_id: "model" })),
        release ? { unusedSlots: 0 } : null,
        at(model.now),
      );
      expect(outcome(result)).toBe(expected);
      await check(model, real);
    },
  }));

const advance = fc.integer({ min: 1, max: 40_000 }).map((ms) => ({
  toString: () => `advance(${ms}ms)`,
  check: () => true,
  async run(model: Model, real: Real) {
    model.now += ms;
    await check(model, real);
  },
}));

describe("AccountLedger, model-based", () => {
  it("agrees with the model and keeps its invariants over random operation sequences", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands([grant, adjust, reserve, settle, release, openAllowance, settleAllowance, advance], {
          maxCommands: 80,
          size: "max",
        }),
        async (commands) => {
          const model = new Model();
          const name = `guest:model-${run++}-${crypto.randomUUID()}`;
          const account = ledger(name);
          expect((await account.open(name, model.now)).ok).toBe(true);
          // A budget far above anything a run spends: this property is about balances.
          expect((await account.setLimits(undefined, 1e15, model.now)).ok).toBe(true);
          await fc.asyncModelRun(() => ({ model, real: { ledger: account, name } }), commands);
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});
