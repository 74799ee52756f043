import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { admin, at, billing, call, codeOf, expectInvariants, ledger, newAccount } from "./helpers";

async function fund(account: string, credits: number): Promise<void> {
  await billing().adjust({ account, delta: credits, reason: "test funding" }, crypto.randomUUID(), admin, call);
}

describe("starter credits", () => {
  it("grants GUEST_CREDITS once to each new guest account", async () => {
    const user = await newAccount();
    expect((await billing().balance(user, call)).balance).toBe(5);
    expect(await billing().grant(user.sub, call)).toEqual({ granted: false });
    expect((await billing().balance(user, call)).balance).toBe(5);
    const history = await billing().history(user, {}, call);
    expect(history.entries.map((e) => [e.id, e.kind, e.amount])).toEqual([["grant:starter", "grant", 5]]);
  });

  it("reads a blank GUEST_CREDITS as its default, not as zero credits", async () => {
    const { sub } = await billing({ GUEST_CREDITS: " " }).issueGuestToken({}, call, uniqueClientAddress());
    expect((await billing().balance({ sub, source: "jwt", admin: false }, call)).balance).toBe(5);
  });
});

describe("adjust", () => {
  it("500 concurrent debits of 1 credit against 300: exactly 300 succeed, 200 get 402", async () => {
    const user = await newAccount();
    await fund(user.sub, 295); // 5 starter + 295 = 300
    const outcomes = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        codeOf(billing().adjust({ account: user.sub, delta: -1, reason: "debit" }, `debit-${i}`, admin, call)),
      ),
    );
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(300);
    expect(outcomes.filter((o) => o === "insufficient_credits")).toHaveLength(200);
    const credits = await billing().balance(user, call);
    expect(credits.balance).toBe(0);
    await expectInvariants(user.sub);
  });

  it("replays the same key and body without applying twice", async () => {
    const user = await newAccount();
    const body = { account: user.sub, delta: 2.5, reason: "refund" };
    const first = await billing().adjust(body, "refund-1", admin, call);
    const again = await billing().adjust(body, "refund-1", admin, call);
    expect(again).toEqual(first);
    expect(first.balance).toBe(7.5);
    expect((await billing().balance(user, call)).balance).toBe(7.5);
  });

  it("refuses the same key with a different body: idempotency_mismatch", async () => {
    const user = await newAccount();
    await billing().adjust({ account: user.sub, delta: 1, reason: "a" }, "k-1", admin, call);
    expect(await codeOf(billing().adjust({ account: user.sub, delta: 2, reason: "a" }, "k-1", admin, call))).toBe(
      "idempotency_mismatch",
    );
    expect(await codeOf(billing().adjust({ account: user.sub, delta: 1, reason: "b" }, "k-1", admin, call))).toBe(
      "idempotency_mismatch",
    );
    expect((await billing().balance(user, call)).balance).toBe(6);
  });

  it("applies a concurrent duplicate once and answers every copy the same", async () => {
    const user = await newAccount();
    const body = { account: user.sub, delta: 1.25, reason: "dup" };
    const answers = await Promise.all(Array.from({ length: 25 }, () => billing().adjust(body, "dup-key", admin, call)));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect((await billing().balance(user, call)).balance).toBe(6.25);
    await expectInvariants(user.sub);
  });

  it("keeps exact micro-credit arithmetic", async () => {
    const user = await newAccount();
    for (let i = 0; i < 10; i++)
      await billing().adjust({ account: user.sub, delta: 0.1, reason: "dime" }, `dime-${i}`, admin, call);
    await billing().adjust({ account: user.sub, delta: -0.000001, reason: "one micro" }, "micro", admin, call);
    expect((await billing().balance(user, call)).balance).toBe(5.999999);
  });

  it("names accounts by subject or email, and 404s one that never signed in", async () => {
    expect(await codeOf(billing().adjust({ account: "guest:nobody", delta: 1, reason: "x" }, "n-1", admin, call))).toBe(
      "not_found",
    );
    expect(
      await codeOf(billing().adjust({ account: "ghost@example.com", delta: 1, reason: "x" }, "n-2", admin, call)),
    ).toBe("not_found");
    await billing().balance(
      { sub: "email:ada@example.com", email: "ada@example.com", source: "header", admin: false },
      call,
    );
    const byEmail = await billing().adjust({ account: "Ada@Example.com", delta: 3, reason: "x" }, "n-3", admin, call);
    expect(byEmail.balance).toBe(3);
  });

  it("refuses bad input and non-admins", async () => {
    const user = await newAccount();
    const cases: [unknown, unknown][] = [
      [{ account: user.sub, delta: 1, reason: "x" }, undefined],
      [{ account: user.sub, delta: 1, reason: "x" }, ""],
      [{ account: user.sub, delta: 0.0000001, reason: "x" }, "k"],
      [{ account: user.sub, delta: 1e12, reason: "x" }, "k"],
      [{ account: user.sub, delta: 0, reason: "x" }, "k"],
      [{ account: user.sub, delta: "1", reason: "x" }, "k"],
      [{ account: user.sub, delta: 1, reason: "" }, "k"],
      [{ account: "not an account", delta: 1, reason: "x" }, "k"],
      [{ account: user.sub, delta: 1 }, "k"],
    ];
    for (const [body, key] of cases)
      expect(await codeOf(billing().adjust(body, key, admin, call)), JSON.stringify(body)).toBe("invalid_input");
    expect(await codeOf(billing().adjust({ account: user.sub, delta: 1, reason: "x" }, "k", user, call))).toBe(
      "forbidden",
    );
  });
});

describe("reserve, settle, void", () => {
  it("reserves, settles the actual cost and releases the rest", async () => {
    const user = await newAccount();
    const hold = await billing().reserve(user, "hold-1", 2_000_000, 60, call);
    expect(hold.amount).toBe(2);
    expect(await billing().balance(user, call)).toMatchObject({ balance: 5, reserved: 2, available: 3 });
    const settled = await billing().settle(user, "hold-1", 1_234_567, call);
    expect(settled.entry).toMatchObject({ kind: "settle", amount: -1.234567, hold_id: "hold-1" });
    expect(await billing().balance(user, call)).toMatchObject({
      balance: 3.765433,
      reserved: 0,
      available: 3.765433,
      holds: [],
    });
    // Settling again with the same amount replays; with another amount it is refused.
    expect((await billing().settle(user, "hold-1", 1_234_567, call)).entry).toEqual(settled.entry);
    expect(await codeOf(billing().settle(user, "hold-1", 1, call))).toBe("idempotency_mismatch");
    expect(await codeOf(billing().void(user, "hold-1", call))).toBe("conflict");
    await expectInvariants(user.sub);
  });

  it("voids a hold without charging, twice harmlessly", async () => {
    const user = await newAccount();
    await billing().reserve(user, "hold-v", 1_000_000, 60, call);
    await billing().void(user, "hold-v", call);
    await billing().void(user, "hold-v", call);
    expect(await billing().balance(user, call)).toMatchObject({ balance: 5, reserved: 0 });
    expect(await codeOf(billing().settle(user, "hold-v", 1, call))).toBe("conflict");
  });

  it("charges a cost above its hold from the balance, never below zero, and 404s an unknown hold", async () => {
    const user = await newAccount();
    await billing().reserve(user, "hold-x", 1_000_000, 60, call);
    // The estimate under-counted: the real cost is a little more than the hold.
    const over = await billing().settle(user, "hold-x", 1_000_001, call);
    expect(over).toMatchObject({ charged_micro: 1_000_001, shortfall_micro: 0 });
    // Far more than the balance: charged down to zero, and the shortfall is reported.
    await billing().reserve(user, "hold-y", 1_000_000, 60, call);
    const huge = await billing().settle(user, "hold-y", 100_000_000, call);
    expect(huge).toMatchObject({ charged_micro: 3_999_999, shortfall_micro: 96_000_001, balance_micro: 0 });
    expect(huge.entry.reason).toContain("balance covered");
    expect(await billing().settle(user, "hold-y", 100_000_000, call)).toEqual(huge);
    expect(await codeOf(billing().settle(user, "nope", 1, call))).toBe("not_found");
    await expectInvariants(user.sub);
  });

  it("402s a reservation beyond the available balance, and concurrent reservations never overspend", async () => {
    const user = await newAccount();
    expect(await codeOf(billing().reserve(user, "too-big", 5_000_001, 60, call))).toBe("insufficient_credits");
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => codeOf(billing().reserve(user, `h-${i}`, 250_000, 60, call))),
    );
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(20);
    expect(await billing().balance(user, call)).toMatchObject({ balance: 5, reserved: 5, available: 0 });
    // A debit cannot take reserved credits either.
    expect(await codeOf(billing().adjust({ account: user.sub, delta: -0.000001, reason: "x" }, "d", admin, call))).toBe(
      "insufficient_credits",
    );
    await expectInvariants(user.sub);
  });

  it("releases an expired hold by itself, and still charges a late settle the balance covers", async () => {
    const user = await newAccount();
    const t0 = Date.now();
    const account = ledger(user.sub);
    expect((await account.reserve("late", 1_000_000, 1_000, at(t0))).ok).toBe(true);
    expect((await account.reserve("gone", 4_000_000, 1_000, at(t0))).ok).toBe(true);
    const later = await account.snapshot(t0 + 1_001);
    expect(later.ok && later.value).toMatchObject({ reserved: 0, holds: [] });
    const settled = await account.settle("late", 600_000, at(t0 + 2_000));
    expect(settled.ok && settled.value.entry).toMatchObject({
      amount: -600_000,
      reason: "settled after the hold expired",
    });
    await expectInvariants(user.sub);
  });

  it("never lets a late settle take credits that other holds reserved", async () => {
    const user = await newAccount();
    const t0 = Date.now();
    const account = ledger(user.sub);
    await account.reserve("expiring", 1_000_000, 1_000, at(t0));
    // Once "expiring" has released its credit, another call reserves almost everything.
    expect((await account.reserve("other", 4_500_000, 60_000, at(t0 + 1_500))).ok).toBe(true);
    const late = await account.settle("expiring", 1_000_000, at(t0 + 2_000));
    // Only the half credit nobody else holds is charged; the rest is reported short.
    expect(late.ok && { charged: -late.value.entry.amount, shortfall: late.value.shortfall }).toEqual({
      charged: 500_000,
      shortfall: 500_000,
    });
    await expectInvariants(user.sub);
  });

  it("expires holds from the alarm too", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    await account.reserve("alarm-hold", 1_000_000, 1_000, at(Date.now() - 5_000));
    // The alarm was set for the hold's expiry (already past): run it if workerd has not yet.
    await runDurableObjectAlarm(account);
    // audit() reads the stored rows without expiring anything itself.
    expect((await account.audit()).reserved).toBe(0);
    await expectInvariants(user.sub);
  });

  it("validates reservation amounts and lifetimes", async () => {
    const user = await newAccount();
    for (const [amount, ttl] of [
      [0, 60],
      [-5, 60],
      [1.5, 60],
      [1, 0],
      [1, 3601],
    ] as const) {
      expect(await codeOf(billing().reserve(user, `bad-${amount}-${ttl}`, amount, ttl, call))).toBe("invalid_input");
    }
  });
});

describe("history", () => {
  it("pages entries newest first with an opaque cursor", async () => {
    const user = await newAccount();
    for (let i = 1; i <= 4; i++)
      await billing().adjust({ account: user.sub, delta: i, reason: `r${i}` }, `h-${i}`, admin, call);
    const first = await billing().history(user, { limit: "2" }, call);
    expect(first.entries.map((e) => e.reason)).toEqual(["r4", "r3"]);
    const second = await billing().history(user, { limit: "2", cursor: first.cursor }, call);
    expect(second.entries.map((e) => e.reason)).toEqual(["r2", "r1"]);
    const third = await billing().history(user, { limit: "2", cursor: second.cursor }, call);
    expect(third).toEqual({ entries: [expect.objectContaining({ kind: "grant" })], cursor: null });
    expect(first.entries[0]).toMatchObject({
      amount: 4,
      balance_after: 15,
      actor: "admin",
      request_id: call.requestId,
    });
  });

  it("refuses bad paging", async () => {
    const user = await newAccount();
    for (const query of [{ limit: "0" }, { limit: "101" }, { limit: "x" }, { cursor: "abc" }, { cursor: "-1" }]) {
      expect(await codeOf(billing().history(user, query, call)), JSON.stringify(query)).toBe("invalid_input");
    }
  });
});

describe("limits", () => {
  it("counts requests per minute and refuses the one over with retry_after", async () => {
    const user = await newAccount();
    await billing().setLimits(user.sub, { rpm: 3 }, admin, call);
    const slot = (id: string) =>
      billing().openAllowance(user, { id, min_micro: 0, want_micro: 0, want_slots: 1, ttl_seconds: 60 }, call);
    const remaining = [];
    for (let i = 0; i < 3; i++) remaining.push((await slot(`slots-${i}`)).limits.rpm.remaining);
    expect(remaining).toEqual([2, 1, 0]);
    try {
      await slot("slots-3");
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: "rate_limited",
        details: { limit: "rpm", limits: { rpm: { remaining: 0 } } },
      });
      const retry = (error as { details: { retry_after: number } }).details.retry_after;
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60);
    }
  });

  it("starts a new window each minute", async () => {
    const user = await newAccount();
    await billing().setLimits(user.sub, { rpm: 1 }, admin, call);
    const account = ledger(user.sub);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    expect((await account.admit(user.sub, minute + 1)).ok).toBe(true);
    expect((await account.admit(user.sub, minute + 2)).ok).toBe(false);
    expect((await account.admit(user.sub, minute + 60_000)).ok).toBe(true);
  });

  it("holds the daily credit budget across reservations", async () => {
    const user = await newAccount();
    const limits = await billing().setLimits(user.sub, { daily_credits: 2 }, admin, call);
    expect(limits.daily_credits).toMatchObject({ limit: 2, remaining: 2 });
    await billing().reserve(user, "d-1", 1_500_000, 60, call);
    expect(await codeOf(billing().reserve(user, "d-2", 600_000, 60, call))).toBe("rate_limited");
    await billing().settle(user, "d-1", 1_000_000, call);
    expect((await billing().limits(user, call)).daily_credits.remaining).toBe(1);
    await billing().reserve(user, "d-3", 1_000_000, 60, call);
    expect(await codeOf(billing().reserve(user, "d-4", 1, 60, call))).toBe("rate_limited");
  });

  it("restores defaults with null, and validates input", async () => {
    const user = await newAccount();
    await billing().setLimits(user.sub, { rpm: 7, daily_credits: 3 }, admin, call);
    const restored = await billing().setLimits(user.sub, { rpm: null, daily_credits: null }, admin, call);
    expect(restored.rpm.limit).toBe(120);
    expect(restored.daily_credits.limit).toBe(100);
    for (const body of [{ rpm: 0 }, { rpm: 1.5 }, { daily_credits: -1 }, { other: 1 }, []]) {
      expect(await codeOf(billing().setLimits(user.sub, body, admin, call)), JSON.stringify(body)).toBe(
        "invalid_input",
      );
    }
    expect(await codeOf(billing().setLimits("guest:never-seen", { rpm: 5 }, admin, call))).toBe("not_found");
    expect(await codeOf(billing().setLimits(user.sub, { rpm: 5 }, user, call))).toBe("forbidden");
  });
});

describe("allowances", () => {
  const request = (id: string, over: Record<string, unknown> = {}) => ({
    id,
    min_micro: 100_000,
    want_micro: 10_000_000,
    want_slots: 64,
    ttl_seconds: 60,
    ...over,
  });

  it("grants at least the minimum and at most half of what is free, with request slots", async () => {
    const user = await newAccount();
    const grant = await billing().openAllowance(user, request("al-1"), call);
    // 5 credits free: half of them, since 10 were wanted; slots, ceil(120 / 16). With slots, the
    // grant carries what `overview` would return.
    expect(grant).toMatchObject({ granted_micro: 2_500_000, held_micro: 2_500_000, granted_slots: 8 });
    expect(grant.limits.rpm.remaining).toBe(112);
    expect(grant.credits).toEqual(await billing().balance(user, call));
    // Growing it takes half of what is left; the account shows it as one hold.
    const grown = await billing().openAllowance(user, request("al-1", { want_slots: 0 }), call);
    expect(grown).toMatchObject({ granted_micro: 1_250_000, held_micro: 3_750_000, granted_slots: 0 });
    const credits = await billing().balance(user, call);
    expect(credits).toMatchObject({ balance: 5, reserved: 3.75, available: 1.25 });
    expect(credits.holds).toEqual([expect.objectContaining({ id: "allowance:al-1", amount: 3.75 })]);
    await expectInvariants(user.sub);
  });

  it("refuses with 402 short of the minimum and 429 with no request slot left", async () => {
    const user = await newAccount();
    expect(await codeOf(billing().openAllowance(user, request("al-2", { min_micro: 6_000_000 }), call))).toBe(
      "insufficient_credits",
    );
    await billing().setLimits(user.sub, { rpm: 1 }, admin, call);
    await billing().openAllowance(user, request("al-3"), call);
    const refused = await billing()
      .openAllowance(user, request("al-4"), call)
      .catch((error) => error);
    expect(refused).toMatchObject({ code: "rate_limited", details: { limit: "rpm", retry_after: expect.any(Number) } });
    expect(refused.details.limits.rpm).toMatchObject({ limit: 1, remaining: 0 });
    await expectInvariants(user.sub);
  });

  it("charges each draw once, releases what is left and gives unused slots back", async () => {
    const user = await newAccount();
    await billing().openAllowance(user, request("al-5", { want_slots: 8 }), call);
    const draws = [
      { id: "draw-a", cost_micro: 300, request_id: "r-a" },
      { id: "draw-b", cost_micro: 700, request_id: "r-b" },
    ];
    const first = await billing().settleAllowance(user, "al-5", draws, null, call);
    expect(first.draws.map((d) => [d.charged_micro, d.replayed])).toEqual([
      [300, false],
      [700, false],
    ]);
    // A replay of the same draws charges nothing more; the release frees the rest and 7 slots.
    const again = await billing().settleAllowance(user, "al-5", draws, { unusedSlots: 7 }, call);
    expect(again.draws.every((d) => d.replayed)).toBe(true);
    expect(again).toMatchObject({ held_micro: 0, charged_micro: 1_000, balance_micro: 4_999_000 });
    expect(again.limits.rpm.remaining).toBe(again.limits.rpm.limit - 1);
    expect(await billing().balance(user, call)).toMatchObject({ balance: 4.999, reserved: 0 });
    // A released allowance cannot be grown again.
    expect(await codeOf(billing().openAllowance(user, request("al-5"), call))).toBe("conflict");
    await expectInvariants(user.sub);
  });

  it("frees an allowance when it expires, even if its instance never comes back", async () => {
    const user = await newAccount();
    const now = Date.now();
    const opened = await ledger(user.sub).openAllowance(user.sub, request("al-6", { ttl_seconds: 1 }), at(now));
    expect(opened.ok).toBe(true);
    const snapshot = await ledger(user.sub).snapshot(now + 1_001);
    expect(snapshot.ok && snapshot.value.reserved).toBe(0);
    await expectInvariants(user.sub);
  });

  it("grants request slots in small shares of the limit, so many instances share one minute", async () => {
    const user = await newAccount(); // 120 requests a minute: at most 8 slots a grant
    const account = ledger(user.sub);
    const now = Date.now();
    const granted: (number | string)[] = [];
    for (let i = 0; i < 25; i++) {
      const result = await account.openAllowance(
        user.sub,
        { id: `share-${i}`, min_micro: 0, want_micro: 0, want_slots: 64, ttl_seconds: 60 },
        at(now),
      );
      granted.push(result.ok ? result.value.granted_slots : result.code);
      if (!result.ok) break;
    }
    // ceil(120 / 16) each while half of what is left allows it, then half, then the last one.
    expect(granted).toEqual([...Array(14).fill(8), 4, 2, 1, 1, "rate_limited"]);
  });

  it("prunes closed slot leases soon after their minute, and keeps credit allowances for support", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const slots = (id: string, ttl_seconds: number) => ({
      id,
      min_micro: 0,
      want_micro: 0,
      want_slots: 4,
      ttl_seconds,
    });
    const rows = () =>
      runInDurableObject(account, async (_instance, state) =>
        state.storage.sql
          .exec<{ id: string }>("SELECT id FROM allowances ORDER BY id")
          .toArray()
          .map((row) => row.id),
      );
    expect((await account.openAllowance(user.sub, slots("lease-released", 60), at(now))).ok).toBe(true);
    expect((await account.settleAllowance("lease-released", [], { unusedSlots: 3 }, at(now + 100))).ok).toBe(true);
    expect((await account.openAllowance(user.sub, slots("lease-expired", 1), at(now))).ok).toBe(true);
    const credits = { id: "credits", min_micro: 0, want_micro: 1_000_000, want_slots: 0, ttl_seconds: 60 };
    expect((await account.openAllowance(user.sub, credits, at(now))).ok).toBe(true);
    expect((await account.settleAllowance("credits", [], { unusedSlots: 0 }, at(now + 100))).ok).toBe(true);
    // Just closed: kept a little while.
    expect((await account.pruneAsOf(now + 5_000)).ok).toBe(true);
    expect(await rows()).toEqual(["credits", "lease-expired", "lease-released"]);
    // Minutes later the alarm's pruning drops the slot leases; the credit allowance stays its 7 days.
    expect((await account.pruneAsOf(now + 4 * 60_000)).ok).toBe(true);
    expect(await rows()).toEqual(["credits"]);
    expect((await account.pruneAsOf(now + 8 * 86_400_000)).ok).toBe(true);
    expect(await rows()).toEqual([]);
    await expectInvariants(user.sub);
  });

  it("prunes old slot leases as it grants new ones, so a busy account's leases stay few", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const lease = (id: string) => ({ id, min_micro: 0, want_micro: 0, want_slots: 1, ttl_seconds: 60 });
    // A grant every 4 s for ten minutes, each lease given back at once (an isolate going idle).
    for (let i = 0; i < 150; i++) {
      const t = now + i * 4_000;
      expect((await account.openAllowance(user.sub, lease(`busy-${i}`), at(t))).ok).toBe(true);
      expect((await account.settleAllowance(`busy-${i}`, [], { unusedSlots: 0 }, at(t + 10))).ok).toBe(true);
    }
    const kept = await runInDurableObject(
      account,
      async (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM allowances").one().n,
    );
    // Only the leases closed in the last two minutes, and the one just granted.
    expect(kept).toBeLessThanOrEqual(2 * 15 + 1);
  });

  it("rejects malformed allowance requests", async () => {
    const user = await newAccount();
    for (const bad of [
      request("", {}),
      request("al-7", { min_micro: -1 }),
      request("al-7", { want_micro: 1.5 }),
      request("al-7", { ttl_seconds: 0 }),
      request("al 7", {}),
    ]) {
      expect(await codeOf(billing().openAllowance(user, bad, call))).toBe("invalid_input");
    }
    const tooMany = Array.from({ length: 257 }, (_, i) => ({ id: `d${i}`, cost_micro: 1, request_id: "r" }));
    expect(await codeOf(billing().settleAllowance(user, "al-7", tooMany, null, call))).toBe("invalid_input");
    expect(
      await codeOf(billing().settleAllowance(user, "al-7", [{ id: "d", cost_micro: -5, request_id: "r" }], null, call)),
    ).toBe("invalid_input");
    expect(await codeOf(billing().settleAllowance(user, "al-missing", [], null, call))).toBe("not_found");
    // Ids and usage become KV keys and metadata: bounded.
    const draw = { id: "d", cost_micro: 1, request_id: "r" };
    for (const bad of [
      { ...draw, id: "x".repeat(161) },
      { ...draw, request_id: "r".repeat(129) },
      { ...draw, usage: { tokens_in: 1, tokens_out: 1, provider: "p", model: "m".repeat(101), estimated: false } },
      { ...draw, usage: { tokens_in: -1, tokens_out: 1, provider: "p", model: "m", estimated: false } },
    ]) {
      expect(await codeOf(billing().settleAllowance(user, "al-missing", [bad], null, call))).toBe("invalid_input");
    }
  });
});
