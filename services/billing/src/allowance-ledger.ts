import type { AllowanceDraw, AllowanceGrant, AllowanceRequest, AllowanceSettlement } from "@cognomega/shared";
import {
  type AccountSnapshot,
  type AccountStore,
  DAY_MS,
  type LedgerCall,
  type LimitSnapshot,
  MINUTE_MS,
} from "./account-store";
import { LedgerRefusal } from "./result";

/**
 * Shared allowance shapes, with limits as the ledger keeps them (BillingService makes them public).
 * A grant of request slots carries the account's snapshot too (see `openAllowance`).
 */
export type LedgerAllowanceGrant = Omit<AllowanceGrant, "limits" | "credits"> & {
  limits: LimitSnapshot;
  account?: AccountSnapshot;
};
export type LedgerAllowanceSettlement = Omit<AllowanceSettlement, "limits"> & { limits: LimitSnapshot };

/**
 * At least `min`, at most `want`, and beyond `min` no more than half of `free`: what one allowance
 * may take of credits or request slots, leaving the rest to other instances.
 */
function shareOf(free: number, want: number, min: number): number {
  return Math.max(min, Math.min(want, Math.floor(free / 2)));
}

/**
 * The most request slots one grant gives, as a share of the per-minute limit. Slots an instance
 * holds unused are lost to the account's other instances until given back, so a grant is small
 * next to the limit: a user whose requests are spread over many gateway isolates is refused only
 * when the minute is nearly used up.
 */
const SLOT_GRANT_DIVISOR = 16;

/**
 * Opens an allowance, or grows an open one: request slots in the current minute (when
 * `want_slots` > 0; none left is 429) and credits reserved for the caller's instance to hold
 * calls against locally. At least `min_micro` is granted or nothing is (402 short of it, 429 over
 * the daily budget); beyond that, `want_micro` as far as half of what is free, so one instance
 * never takes everything. Slots are granted up to half of what is left this minute and at most
 * ceil(limit / 16), at least one. A grant of slots (a gateway isolate's, which may be the first
 * ledger call of a request for the balance) also returns the account's snapshot, and prunes the
 * account's old closed slot leases.
 */
export function openAllowance(
  store: AccountStore,
  name: string,
  request: AllowanceRequest,
  call: LedgerCall,
): LedgerAllowanceGrant {
  store.expireDue(call.now);
  const account = store.openAccount(name, call.now);
  const existing = store.allowance(request.id);
  if (existing && existing.status !== "open")
    throw new LedgerRefusal("conflict", "this allowance is closed; open a new one");
  const limits = store.limitSnapshot(account, call.now);
  const window = Math.floor(call.now / MINUTE_MS);
  let grantedSlots = 0;
  if (request.want_slots > 0) {
    if (limits.rpm.remaining <= 0) {
      throw new LedgerRefusal("rate_limited", `over ${limits.rpm.limit} requests per minute`, {
        retry_after: limits.rpm.resetSeconds,
        limit: "rpm",
        limits,
      });
    }
    grantedSlots = Math.min(
      shareOf(limits.rpm.remaining, Math.max(1, request.want_slots), 1),
      Math.ceil(limits.rpm.limit / SLOT_GRANT_DIVISOR),
    );
    store.countRequests(window, grantedSlots);
    store.pruneSlotLeases(call.now);
  }
  const available = account.balance - account.reserved;
  if (request.min_micro > available) {
    throw new LedgerRefusal("insufficient_credits", "not enough available credits to reserve", {
      available,
      needed: request.min_micro,
    });
  }
  if (request.min_micro > limits.daily.remaining) {
    throw new LedgerRefusal("rate_limited", "the daily credit budget would be exceeded", {
      retry_after: limits.daily.resetSeconds,
      limit: "daily_credits",
    });
  }
  const free = Math.min(available, limits.daily.remaining);
  const grantedMicro = Math.min(free, shareOf(free, request.want_micro, request.min_micro));
  const expiresAt = Math.max(existing?.expires_at ?? 0, call.now + request.ttl_seconds * 1000);
  if (existing) {
    const slots = existing.window === window ? existing.slots + grantedSlots : grantedSlots;
    store.sql.exec(
      "UPDATE allowances SET held = held + ?, window = ?, slots = ?, expires_at = ? WHERE id = ?",
      grantedMicro,
      window,
      slots,
      expiresAt,
      request.id,
    );
  } else {
    store.sql.exec(
      `INSERT INTO allowances (id, held, charged, status, window, slots, created_at, expires_at)
       VALUES (?, ?, 0, 'open', ?, ?, ?, ?)`,
      request.id,
      grantedMicro,
      window,
      grantedSlots,
      call.now,
      expiresAt,
    );
  }
  store.sql.exec("UPDATE account SET reserved = reserved + ? WHERE id = 1", grantedMicro);
  store.scheduleAlarm(expiresAt);
  return {
    ...store.allowanceState(request.id, call.now),
    granted_micro: grantedMicro,
    granted_slots: grantedSlots,
    ...(grantedSlots > 0 ? { account: store.snapshot() } : {}),
  };
}

/**
 * Charges calls held against an allowance, each as its own `settle` entry (id `settle:<draw id>`,
 * so a draw settled twice is charged once). A cost is taken from the allowance first and any
 * excess from the free balance, never below zero; a closed allowance charges from the free
 * balance only. With `release`, the allowance closes: its credits are freed and its unused slots
 * of the current minute returned.
 */
export function settleAllowance(
  store: AccountStore,
  id: string,
  draws: AllowanceDraw[],
  release: { unusedSlots: number } | null,
  call: LedgerCall,
): LedgerAllowanceSettlement {
  store.expireDue(call.now);
  const account = store.requireAccount();
  const row = store.allowance(id);
  if (!row) throw new LedgerRefusal("not_found", `no allowance ${id}`);
  // One pass in memory and one write per entry: a settlement carries many calls, and the object
  // answers nothing else while it runs.
  const done = store.settledBefore(draws.map((draw) => `settle:${draw.id}`));
  const open = row.status === "open";
  let { balance, reserved } = account;
  let held = open ? row.held : 0;
  let total = 0;
  const settled: LedgerAllowanceSettlement["draws"] = [];
  for (const draw of draws) {
    const entryId = `settle:${draw.id}`;
    const previous = done.get(entryId);
    if (previous !== undefined) {
      settled.push({ id: draw.id, charged_micro: previous, shortfall_micro: 0, replayed: true });
      continue;
    }
    // From the allowance first, then from what no hold or allowance has reserved.
    const fromHeld = Math.min(draw.cost_micro, held);
    const charged = fromHeld + Math.min(draw.cost_micro - fromHeld, balance - reserved);
    held -= fromHeld;
    reserved -= fromHeld;
    balance -= charged;
    total += charged;
    store.sql.exec(
      `INSERT INTO entries (id, kind, amount, balance_after, reason, request_id, actor, hold_id, created_at)
       VALUES (?, 'settle', ?, ?, ?, ?, ?, ?, ?)`,
      entryId,
      -charged,
      balance,
      charged < draw.cost_micro ? `cost ${draw.cost_micro}, balance covered ${charged}` : null,
      draw.request_id,
      call.actor,
      `allowance:${id}`,
      call.now,
    );
    done.set(entryId, charged);
    if (draw.usage) {
      // The call's own time when it is believable, else the time it was settled.
      const at = typeof draw.at === "number" && Math.abs(draw.at - call.now) < 3_600_000 ? draw.at : call.now;
      store.queueUsage({ id: draw.id, at, requestId: draw.request_id, usage: draw.usage, chargedMicro: charged });
    }
    settled.push({
      id: draw.id,
      charged_micro: charged,
      shortfall_micro: draw.cost_micro - charged,
      replayed: false,
    });
  }
  let status = row.status;
  let closedAt = row.closed_at;
  if (release && open) {
    reserved -= held;
    held = 0;
    status = "released";
    closedAt = call.now;
    const unused = Math.min(Math.max(0, release.unusedSlots), row.slots);
    if (unused > 0)
      store.sql.exec(
        "UPDATE rate_window SET count = MAX(0, count - ?) WHERE id = 1 AND window = ?",
        unused,
        row.window,
      );
  }
  store.sql.exec(
    "UPDATE allowances SET held = ?, charged = charged + ?, status = ?, closed_at = ? WHERE id = ?",
    open ? held : row.held,
    total,
    status,
    closedAt,
    id,
  );
  store.sql.exec("UPDATE account SET balance = ?, reserved = ? WHERE id = 1", balance, reserved);
  if (total > 0)
    store.sql.exec(
      "INSERT INTO daily_spend (day, spent) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET spent = spent + excluded.spent",
      Math.floor(call.now / DAY_MS),
      total,
    );
  return { ...store.allowanceState(id, call.now), draws: settled };
}
