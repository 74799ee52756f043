import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { env } from "../../test-support/mesh-env";
import { AccountSlots, RequestSlots, type SlotRequest } from "../src/http/request-slots";
import { ADMIN_KEY, gateway, guestToken } from "./helpers";

const call = { requestId: "request-slots-test" };

async function user(rpm: number): Promise<Identity> {
  const { sub } = await guestToken();
  const set = await gateway(`/api/admin/limits/${encodeURIComponent(sub)}`, {
    method: "PUT",
    headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ rpm }),
  });
  expect(set.status).toBe(200);
  return { sub, source: "jwt", admin: false };
}

function request(identity: Identity, background: Promise<unknown>[], billing = env.BILLING): SlotRequest {
  return { billing, identity, call, waitUntil: (promise) => background.push(promise) };
}

/**
 * Runs a test whose counts must fall in one minute of the ledger: started with at least 10 s of
 * the minute left (a test clock that moves on its own may run a few seconds ahead of the
 * ledger's), and run again, once, when it failed while the minute turned anyway (a new minute
 * gives the account a full limit again).
 */
async function inOneMinute(body: () => Promise<void>): Promise<void> {
  const minute = () => Math.floor(Date.now() / 60_000);
  for (let attempt = 0; ; attempt++) {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 10_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
    const start = minute();
    try {
      return await body();
    } catch (error) {
      if (attempt > 0 || minute() === start) throw error;
    }
  }
}

// Up to 10 s of a test can be spent waiting for a fresh minute (inOneMinute).
describe("request slots", { timeout: 30_000 }, () => {
  it("counts many requests with one ledger call, and gives the unused slots back when idle", () =>
    inOneMinute(async () => {
      const identity = await user(100);
      const slots = new RequestSlots();
      const background: Promise<unknown>[] = [];
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++)
        remaining.push((await slots.account(identity.sub).take(request(identity, background))).limits.rpm.remaining);
      expect(remaining).toEqual([99, 98, 97, 96, 95]);
      // The ledger counts every slot it granted (ceil(100 / 16)) until they come back.
      expect((await env.BILLING.limits(identity, call)).rpm.remaining).toBe(93);
      while (background.length > 0) await background.shift();
      expect((await env.BILLING.limits(identity, call)).rpm.remaining).toBe(95);
      expect(slots.size).toBe(0);
    }));

  it("asks for more slots before they run out while the minute has plenty left", () =>
    inOneMinute(async () => {
      const identity = await user(10_000);
      const grants: number[] = [];
      const billing = {
        openAllowance: (...args: Parameters<GatewayEnv["BILLING"]["openAllowance"]>) => {
          grants.push(Date.now());
          return env.BILLING.openAllowance(...args);
        },
        settleAllowance: (...args: Parameters<GatewayEnv["BILLING"]["settleAllowance"]>) =>
          env.BILLING.settleAllowance(...args),
      } as unknown as GatewayEnv["BILLING"];
      const slots = new RequestSlots();
      const background: Promise<unknown>[] = [];
      let last = 0;
      for (let i = 0; i < 400; i++)
        last = (await slots.account(identity.sub).take(request(identity, background, billing))).limits.rpm.remaining;
      expect(last).toBe(10_000 - 400);
      // 256 slots a grant, the next one asked for when 63 are left: two grants ahead of need.
      expect(grants).toHaveLength(2);
      while (background.length > 0) await background.shift();
      expect((await env.BILLING.limits(identity, call)).rpm.remaining).toBe(10_000 - 400);
    }));

  it("grants a returning account no slots until its idle ones are back in the ledger", () =>
    inOneMinute(async () => {
      const identity = await user(100);
      let opened: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        opened = resolve;
      });
      let givingBack: () => void = () => {};
      const settling = new Promise<void>((resolve) => {
        givingBack = resolve;
      });
      const billing = {
        openAllowance: (...args: Parameters<GatewayEnv["BILLING"]["openAllowance"]>) =>
          env.BILLING.openAllowance(...args),
        settleAllowance: async (...args: Parameters<GatewayEnv["BILLING"]["settleAllowance"]>) => {
          givingBack();
          await gate;
          return env.BILLING.settleAllowance(...args);
        },
      } as unknown as GatewayEnv["BILLING"];
      // Time moves only when the idle watch sleeps, so the account goes idle at once; a grant
      // waits as long as it takes for the give-back here.
      let clock = Date.now();
      const slots = new RequestSlots(
        {
          now: () => clock,
          sleep: async (ms) => {
            clock += ms;
          },
        },
        60_000,
      );
      const background: Promise<unknown>[] = [];
      expect(
        (await slots.account(identity.sub).take(request(identity, background, billing))).limits.rpm.remaining,
      ).toBe(99);
      await settling;
      expect(slots.size).toBe(0);
      // A request while the unused slots are on their way back: granted from a ledger that has them.
      const next = slots.account(identity.sub).take(request(identity, background, billing));
      setTimeout(opened, 50);
      expect((await next).limits.rpm.remaining).toBe(98);
    }));

  it("admits a user spread over 12 isolates until the minute is nearly used up", () =>
    inOneMinute(async () => {
      const identity = await user(120);
      const isolates = Array.from({ length: 12 }, () => new RequestSlots());
      const background: Promise<unknown>[] = [];
      let admitted = 0;
      let refused: unknown;
      // A client with parallel connections: its requests go round the 12 isolates in turn.
      for (let i = 0; refused === undefined && admitted <= 120; i++) {
        refused = await isolates[i % 12]
          ?.account(identity.sub)
          .take(request(identity, background))
          .then(
            () => {
              admitted += 1;
              return undefined;
            },
            (error) => error,
          );
      }
      expect(refused).toMatchObject({ name: "ServiceError", code: "rate_limited" });
      // A grant is at most ceil(120 / 16) = 8 slots (half of what is left near the end): each
      // isolate's first 8 requests use its first grant, then the last 24 slots go 8, 8, 4, 2, 1, 1
      // to six of them and the seventh is refused, with 18 slots unused in the others: 102 admitted.
      // (Slots given back by an isolate idle for 2 s would only add to that.) In general a refusal
      // comes only once every slot of the minute is granted, with at most 7 unused in each other
      // isolate: at least 120 − 11 × 7 for any spread over 12.
      expect(admitted).toBeGreaterThanOrEqual(102);
      expect(admitted).toBeLessThanOrEqual(120);
    }));

  it("waits only briefly for a returning account's slots that are never given back", async () => {
    const identity = await user(100);
    let settleCalled: () => void = () => {};
    const settling = new Promise<void>((resolve) => {
      settleCalled = resolve;
    });
    const billing = {
      openAllowance: (...args: Parameters<GatewayEnv["BILLING"]["openAllowance"]>) =>
        env.BILLING.openAllowance(...args),
      // The give-back never ends (its request's waitUntil was cut short).
      settleAllowance: () => {
        settleCalled();
        return new Promise(() => {});
      },
    } as unknown as GatewayEnv["BILLING"];
    // The first lease goes idle at once; the second never does.
    let clock = Date.now();
    let idle = true;
    const slots = new RequestSlots({
      now: () => clock,
      sleep: async (ms) => {
        if (!idle) return new Promise(() => {});
        clock += ms;
      },
    });
    const background: Promise<unknown>[] = [];
    await slots.account(identity.sub).take(request(identity, background, billing));
    await settling;
    idle = false;
    expect(slots.givingBack).toBe(1);
    // Granted anyway, after a short wait (the test's own timeout is the guard), and forgotten.
    const { limits } = await slots.account(identity.sub).take(request(identity, background, billing));
    expect(limits.rpm.remaining).toBeGreaterThan(0);
    expect(slots.givingBack).toBe(0);
  });

  it("429s a request with no slot left, and keeps nothing for an account it refused", async () => {
    const identity = await user(1);
    const background: Promise<unknown>[] = [];
    // Two isolates: the first takes the minute's only request.
    const [first, second] = [new RequestSlots(), new RequestSlots()];
    await first.account(identity.sub).take(request(identity, background));
    for (let i = 0; i < 3; i++) {
      const refused = await second
        .account(identity.sub)
        .take(request(identity, background))
        .catch((error) => error);
      expect(refused).toMatchObject({ name: "ServiceError", code: "rate_limited" });
      expect(refused.details).toMatchObject({ limit: "rpm", retry_after: expect.any(Number) });
    }
    expect(second.size).toBe(0);
    while (background.length > 0) await background.shift();
    expect(first.size).toBe(0);
  });

  it("reads the ledger's minute on the ledger's clock, so a skewed clock costs no extra grants", async () => {
    const skew = 30_000;
    const local = Math.floor(Date.now() / 60_000) * 60_000 + 45_000; // 15 s before the local minute ends
    const grants: number[] = [];
    const billing = {
      async openAllowance(_identity: Identity, asked: { id: string; ttl_seconds: number; want_slots: number }) {
        const now = local + skew; // the ledger's minute has already turned
        grants.push(now);
        return {
          id: asked.id,
          held_micro: 0,
          charged_micro: 0,
          window: Math.floor(now / 60_000),
          slots: 5,
          expires_at: now + asked.ttl_seconds * 1000,
          balance_micro: 5_000_000,
          entry_seq: 1,
          limits: {
            rpm: { limit: 10, remaining: 10 - 5, reset_seconds: 30 },
            daily_credits: { limit: 100, remaining: 100, reset_seconds: 1 },
          },
          now,
          granted_micro: 0,
          granted_slots: 5,
        };
      },
      settleAllowance: async () => {
        throw new Error("not used");
      },
    } as unknown as GatewayEnv["BILLING"];
    let clock = local;
    // Its idle watch never wakes: the clock here only moves when the test moves it.
    const account = new AccountSlots(() => {}, { now: () => clock, sleep: () => new Promise(() => {}) });
    const identity: Identity = { sub: "guest:skew", source: "jwt", admin: false };
    expect((await account.take(request(identity, [], billing))).limits.rpm).toEqual({
      limit: 10,
      remaining: 9,
      // On the ledger's clock: 45 s left of its minute.
      reset_seconds: 45,
    });
    clock += 5_000; // well past a fresh grant, still inside both minutes
    expect((await account.take(request(identity, [], billing))).limits.rpm.remaining).toBe(8);
    expect(grants).toHaveLength(1);
  });
});
