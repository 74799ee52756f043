import { DurableObject } from "cloudflare:workers";
import type { AiUsage, AllowanceDraw, AllowanceGrant, AllowanceRequest, AllowanceSettlement } from "@cognomega/shared";
import { defaultLimits, usageTtlSeconds } from "./config";
import { type AccountRow, type AllowanceRow, type EntryRow, type HoldRow, LEDGER_SCHEMA } from "./ledger-schema";
import { attempt, LedgerRefusal, type LedgerResult } from "./result";
import { type ChargedUsage, carryUsage, queueUsage, USAGE_OUTBOX_DELAY_MS, usagePending } from "./usage-outbox";

/** Who and what caused a ledger call; `now` comes from the caller so tests can move time. */
export interface LedgerCall {
  now: number;
  requestId: string;
  actor: string;
}

/** Balance, reservations and open holds of one account, in micro-credits. */
export interface AccountSnapshot {
  name: string;
  balance: number;
  reserved: number;
  holds: HoldRow[];
}

/** Limits with what is left, in requests and micro-credits (a type alias: it travels as JSON). */
export type LimitSnapshot = {
  rpm: { limit: number; remaining: number; resetSeconds: number };
  daily: { limit: number; remaining: number; resetSeconds: number };
};

/** Shared allowance shapes, with limits as the ledger keeps them (BillingService makes them public). */
export type LedgerAllowanceGrant = Omit<AllowanceGrant, "limits"> & { limits: LimitSnapshot };
export type LedgerAllowanceSettlement = Omit<AllowanceSettlement, "limits"> & { limits: LimitSnapshot };

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Idempotency records of multi-step operations are kept at least this long (24 h promised). */
const IDEMPOTENCY_RETENTION_MS = 2 * DAY_MS;
/** An in-flight operation older than this is presumed dead and may be taken over. */
const IN_FLIGHT_TAKEOVER_MS = 10 * 60_000;
/** Closed holds are kept this long for support questions, then pruned. */
const CLOSED_HOLD_RETENTION_MS = 7 * DAY_MS;

/**
 * At least `min`, at most `want`, and beyond `min` no more than half of `free`: what one allowance
 * may take of credits or request slots, leaving the rest to other instances.
 */
function shareOf(free: number, want: number, min: number): number {
  return Math.max(min, Math.min(want, Math.floor(free / 2)));
}

/**
 * One account's money, in a SQLite-backed Durable Object. Every method runs synchronously inside
 * one `transactionSync`: no `await` splits a read from its write, so concurrent calls are applied
 * one after another and never lose an update, and a refusal rolls the whole call back.
 */
export class AccountLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of LEDGER_SCHEMA) this.sql.exec(statement);
  }

  private tx<T>(operation: () => T): LedgerResult<T> {
    return attempt(() => this.ctx.storage.transactionSync(operation));
  }

  private account(): AccountRow | undefined {
    return this.sql.exec<AccountRow>("SELECT * FROM account WHERE id = 1").toArray()[0] as AccountRow | undefined;
  }

  private requireAccount(): AccountRow {
    const account = this.account();
    if (!account) throw new LedgerRefusal("not_found", "unknown account: it has never signed in");
    return account;
  }

  private openAccount(name: string, now: number): AccountRow {
    const existing = this.account();
    if (existing) return existing;
    this.sql.exec("INSERT INTO account (id, name, balance, reserved, opened_at) VALUES (1, ?, 0, 0, ?)", name, now);
    return this.requireAccount();
  }

  /** Releases every open hold and allowance whose time is up. Runs first in every call, and from the alarm. */
  private expireDue(now: number): void {
    const { rows, total } = this.sql
      .exec<{ rows: number; total: number }>(
        `SELECT (SELECT COUNT(*) FROM holds WHERE status = 'open' AND expires_at <= ?1)
              + (SELECT COUNT(*) FROM allowances WHERE status = 'open' AND expires_at <= ?1) AS rows,
                (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'open' AND expires_at <= ?1)
              + (SELECT COALESCE(SUM(held), 0) FROM allowances WHERE status = 'open' AND expires_at <= ?1) AS total`,
        now,
      )
      .one();
    if (rows === 0) return;
    this.sql.exec(
      "UPDATE holds SET status = 'expired', closed_at = ? WHERE status = 'open' AND expires_at <= ?",
      now,
      now,
    );
    this.sql.exec(
      "UPDATE allowances SET status = 'expired', held = 0, closed_at = ? WHERE status = 'open' AND expires_at <= ?",
      now,
      now,
    );
    if (total > 0) this.sql.exec("UPDATE account SET reserved = reserved - ? WHERE id = 1", total);
  }

  private appendEntry(entry: Omit<EntryRow, "seq" | "balance_after">, balance: number): EntryRow {
    const balanceAfter = balance + entry.amount;
    if (balanceAfter < 0) throw new LedgerRefusal("insufficient_credits", "the balance cannot go below zero");
    this.sql.exec(
      `INSERT INTO entries (id, kind, amount, balance_after, reason, request_id, actor, hold_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.id,
      entry.kind,
      entry.amount,
      balanceAfter,
      entry.reason,
      entry.request_id,
      entry.actor,
      entry.hold_id,
      entry.created_at,
    );
    this.sql.exec("UPDATE account SET balance = ? WHERE id = 1", balanceAfter);
    return this.entry(entry.id) as EntryRow;
  }

  private entry(id: string): EntryRow | undefined {
    return this.sql.exec<EntryRow>("SELECT * FROM entries WHERE id = ?", id).toArray()[0] as EntryRow | undefined;
  }

  private hold(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0] as HoldRow | undefined;
  }

  private spentOn(day: number): number {
    return (
      this.sql.exec<{ spent: number }>("SELECT spent FROM daily_spend WHERE day = ?", day).toArray()[0]?.spent ?? 0
    );
  }

  private limitSnapshot(account: AccountRow, now: number, used?: number): LimitSnapshot {
    const defaults = defaultLimits(this.env);
    const rpmLimit = account.rpm_limit ?? defaults.rpm;
    const window = Math.floor(now / MINUTE_MS);
    const row = this.sql
      .exec<{ window: number; count: number }>("SELECT window, count FROM rate_window WHERE id = 1")
      .toArray()[0];
    const count = used ?? (row && row.window === window ? row.count : 0);
    const dailyLimit = account.daily_limit ?? defaults.dailyMicro;
    const day = Math.floor(now / DAY_MS);
    return {
      rpm: {
        limit: rpmLimit,
        remaining: Math.max(0, rpmLimit - count),
        resetSeconds: Math.ceil(((window + 1) * MINUTE_MS - now) / 1000),
      },
      daily: {
        limit: dailyLimit,
        remaining: Math.max(0, dailyLimit - this.spentOn(day) - account.reserved),
        resetSeconds: Math.ceil(((day + 1) * DAY_MS - now) / 1000),
      },
    };
  }

  private scheduleAlarm(at: number): void {
    const account = this.requireAccount();
    if (account.next_alarm !== null && account.next_alarm <= at) return;
    this.sql.exec("UPDATE account SET next_alarm = ? WHERE id = 1", at);
    void this.ctx.storage.setAlarm(at);
  }

  /** Opens the account if it is new. */
  open(name: string, now: number): LedgerResult<AccountSnapshot> {
    return this.tx(() => {
      this.openAccount(name, now);
      return this.snapshotNow(now);
    });
  }

  private snapshotNow(now: number): AccountSnapshot {
    this.expireDue(now);
    const account = this.requireAccount();
    const holds = this.sql
      .exec<HoldRow>(
        `SELECT * FROM (
           SELECT id, amount, status, created_at, expires_at, request_id, settled, closed_at
             FROM holds WHERE status = 'open'
           UNION ALL
           SELECT 'allowance:' || id, held, status, created_at, expires_at, NULL, NULL, closed_at
             FROM allowances WHERE status = 'open' AND held > 0
         ) ORDER BY expires_at, id LIMIT 100`,
      )
      .toArray() as HoldRow[];
    return { name: account.name, balance: account.balance, reserved: account.reserved, holds };
  }

  /** Balance, reservations and open holds; 404 for an account that was never opened. */
  snapshot(now: number): LedgerResult<AccountSnapshot> {
    return this.tx(() => this.snapshotNow(now));
  }

  /** Starter credits, once per account ever (entry id `grant:starter`). */
  grantStarter(
    name: string,
    amount: number,
    call: LedgerCall,
  ): LedgerResult<{ granted: boolean; entry: EntryRow | null }> {
    return this.tx(() => {
      const account = this.openAccount(name, call.now);
      const existing = this.entry("grant:starter");
      if (existing) return { granted: false, entry: existing };
      if (amount === 0) return { granted: false, entry: null };
      const entry = this.appendEntry(
        {
          id: "grant:starter",
          kind: "grant",
          amount,
          reason: "starter credits",
          request_id: call.requestId,
          actor: call.actor,
          hold_id: null,
          created_at: call.now,
        },
        account.balance,
      );
      return { granted: true, entry };
    });
  }

  /**
   * Adds `delta` (negative to take away) with an idempotency key. A replay with the same delta
   * and reason returns the original entry; with a different body it is `idempotency_mismatch`.
   * A debit may not take credits that are reserved by open holds.
   */
  adjust(key: string, delta: number, reason: string, call: LedgerCall): LedgerResult<EntryRow> {
    return this.tx(() => {
      this.expireDue(call.now);
      const account = this.requireAccount();
      const id = `adjust:${key}`;
      const previous = this.entry(id);
      if (previous) {
        if (previous.amount === delta && previous.reason === reason) return previous;
        throw new LedgerRefusal("idempotency_mismatch", "this Idempotency-Key was used with a different request");
      }
      if (delta < 0 && account.balance - account.reserved + delta < 0) {
        throw new LedgerRefusal("insufficient_credits", "not enough available credits for this debit", {
          available: account.balance - account.reserved,
        });
      }
      return this.appendEntry(
        {
          id,
          kind: "adjust",
          amount: delta,
          reason,
          request_id: call.requestId,
          actor: call.actor,
          hold_id: null,
          created_at: call.now,
        },
        account.balance,
      );
    });
  }

  /**
   * Reserves `amount` until settled, voided or expired. Refused with 402 when the available
   * balance is short and with 429 when it would break the daily budget. Replaying a hold id with
   * the same amount returns the hold; with another amount it is `idempotency_mismatch`.
   */
  reserve(holdId: string, amount: number, ttlMs: number, call: LedgerCall): LedgerResult<HoldRow> {
    return this.tx(() => {
      this.expireDue(call.now);
      const account = this.requireAccount();
      const previous = this.hold(holdId);
      if (previous) {
        if (previous.amount === amount) return previous;
        throw new LedgerRefusal("idempotency_mismatch", "this hold id was used with a different amount");
      }
      const available = account.balance - account.reserved;
      if (amount > available) {
        throw new LedgerRefusal("insufficient_credits", "not enough available credits to reserve", {
          available,
          needed: amount,
        });
      }
      const limits = this.limitSnapshot(account, call.now);
      if (amount > limits.daily.remaining) {
        throw new LedgerRefusal("rate_limited", "the daily credit budget would be exceeded", {
          retry_after: limits.daily.resetSeconds,
          limit: "daily_credits",
        });
      }
      const expiresAt = call.now + ttlMs;
      this.sql.exec(
        "INSERT INTO holds (id, amount, status, created_at, expires_at, request_id) VALUES (?, ?, 'open', ?, ?, ?)",
        holdId,
        amount,
        call.now,
        expiresAt,
        call.requestId,
      );
      this.sql.exec("UPDATE account SET reserved = reserved + ? WHERE id = 1", amount);
      this.scheduleAlarm(expiresAt);
      return this.hold(holdId) as HoldRow;
    });
  }

  /**
   * Charges the actual cost of a call against its hold and releases the rest. The hold bounds what
   * concurrent calls may spend; when the actual cost is higher (a prompt the estimate under-counted)
   * the excess is charged from the available balance, as far as it goes, and never below zero: the
   * entry records what was charged, the answer says what fell short. The same applies to a hold
   * that expired before its call ended. Settling again with the same amount replays; with another
   * amount it is `idempotency_mismatch`.
   */
  settle(
    holdId: string,
    actual: number,
    call: LedgerCall,
    usage?: AiUsage,
  ): LedgerResult<{ hold: HoldRow; entry: EntryRow; shortfall: number }> {
    return this.tx(() => {
      this.expireDue(call.now);
      const account = this.requireAccount();
      const hold = this.hold(holdId);
      if (!hold) throw new LedgerRefusal("not_found", `no hold ${holdId}`);
      const entryId = `settle:${holdId}`;
      if (hold.status === "settled") {
        if (hold.settled !== actual)
          throw new LedgerRefusal("idempotency_mismatch", "this hold was settled with a different amount");
        const entry = this.entry(entryId) as EntryRow;
        return { hold, entry, shortfall: actual + entry.amount };
      }
      if (hold.status === "voided") throw new LedgerRefusal("conflict", "this hold was voided");
      if (hold.status === "open") this.sql.exec("UPDATE account SET reserved = reserved - ? WHERE id = 1", hold.amount);
      const released = this.requireAccount();
      const charged = Math.min(actual, released.balance - released.reserved);
      this.sql.exec(
        "UPDATE holds SET status = 'settled', settled = ?, closed_at = ? WHERE id = ?",
        actual,
        call.now,
        holdId,
      );
      const day = Math.floor(call.now / DAY_MS);
      this.sql.exec(
        "INSERT INTO daily_spend (day, spent) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET spent = spent + excluded.spent",
        day,
        charged,
      );
      const notes: string[] = [];
      if (hold.status === "expired") notes.push("settled after the hold expired");
      if (charged < actual) notes.push(`cost ${actual}, balance covered ${charged}`);
      const entry = this.appendEntry(
        {
          id: entryId,
          kind: "settle",
          amount: -charged,
          reason: notes.length > 0 ? notes.join("; ") : null,
          request_id: call.requestId,
          actor: call.actor,
          hold_id: holdId,
          created_at: call.now,
        },
        account.balance,
      );
      if (usage) this.queueUsage({ id: holdId, at: call.now, requestId: call.requestId, usage, chargedMicro: charged });
      return { hold: this.hold(holdId) as HoldRow, entry, shortfall: actual - charged };
    });
  }

  /** Releases a hold without charging. Voiding twice, or an expired hold, is a no-op. */
  release(holdId: string, call: LedgerCall): LedgerResult<HoldRow> {
    return this.tx(() => {
      this.expireDue(call.now);
      this.requireAccount();
      const hold = this.hold(holdId);
      if (!hold) throw new LedgerRefusal("not_found", `no hold ${holdId}`);
      if (hold.status === "settled") throw new LedgerRefusal("conflict", "this hold was already settled");
      if (hold.status === "open") {
        this.sql.exec("UPDATE holds SET status = 'voided', closed_at = ? WHERE id = ?", call.now, holdId);
        this.sql.exec("UPDATE account SET reserved = reserved - ? WHERE id = 1", hold.amount);
      }
      return this.hold(holdId) as HoldRow;
    });
  }

  /** Entries newest first, `limit` at a time, before the sequence number `before`. */
  history(before: number | null, limit: number): LedgerResult<{ entries: EntryRow[]; next: number | null }> {
    return this.tx(() => {
      this.requireAccount();
      const entries = this.sql
        .exec<EntryRow>(
          "SELECT * FROM entries WHERE seq < ? ORDER BY seq DESC LIMIT ?",
          before ?? Number.MAX_SAFE_INTEGER,
          limit + 1,
        )
        .toArray() as EntryRow[];
      const more = entries.length > limit;
      const page = entries.slice(0, limit);
      return { entries: page, next: more ? (page.at(-1)?.seq ?? null) : null };
    });
  }

  /**
   * Counts one request against the per-minute limit (opening the account on its first request).
   * Over the limit it is refused with `rate_limited` and the seconds until the window resets.
   */
  admit(name: string, now: number, rpmOverride?: number): LedgerResult<LimitSnapshot> {
    return this.tx(() => {
      this.expireDue(now);
      const opened = this.openAccount(name, now);
      // A caller-supplied limit (e.g. guest tokens per client address) wins over the account's.
      const account = rpmOverride === undefined ? opened : { ...opened, rpm_limit: rpmOverride };
      const window = Math.floor(now / MINUTE_MS);
      const row = this.sql
        .exec<{ window: number; count: number }>("SELECT window, count FROM rate_window WHERE id = 1")
        .toArray()[0];
      const count = row && row.window === window ? row.count : 0;
      const limits = this.limitSnapshot(account, now, count);
      if (count >= limits.rpm.limit) {
        throw new LedgerRefusal("rate_limited", `over ${limits.rpm.limit} requests per minute`, {
          retry_after: limits.rpm.resetSeconds,
          limit: "rpm",
          limits,
        });
      }
      this.countRequests(window, 1);
      return this.limitSnapshot(account, now, count + 1);
    });
  }

  /** Counts `n` requests in the minute `window` (a new minute starts from zero). */
  private countRequests(window: number, n: number): void {
    this.sql.exec(
      "INSERT INTO rate_window (id, window, count) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET window = excluded.window, count = CASE WHEN window = excluded.window THEN count + ?2 ELSE ?2 END",
      window,
      n,
    );
  }

  /** The account's limits and what is left of them, without counting a request. */
  limits(now: number): LedgerResult<LimitSnapshot> {
    return this.tx(() => {
      this.expireDue(now);
      return this.limitSnapshot(this.requireAccount(), now);
    });
  }

  /** Sets (or with `null` clears) the tenant's own limits; `undefined` leaves one unchanged. */
  setLimits(
    rpm: number | null | undefined,
    dailyMicro: number | null | undefined,
    now: number,
  ): LedgerResult<LimitSnapshot> {
    return this.tx(() => {
      this.requireAccount();
      if (rpm !== undefined) this.sql.exec("UPDATE account SET rpm_limit = ? WHERE id = 1", rpm);
      if (dailyMicro !== undefined) this.sql.exec("UPDATE account SET daily_limit = ? WHERE id = 1", dailyMicro);
      return this.limitSnapshot(this.requireAccount(), now);
    });
  }

  private allowance(id: string): AllowanceRow | undefined {
    return this.sql.exec<AllowanceRow>("SELECT * FROM allowances WHERE id = ?", id).toArray()[0] as
      | AllowanceRow
      | undefined;
  }

  private allowanceState(id: string, now: number) {
    const row = this.allowance(id) as AllowanceRow;
    const account = this.requireAccount();
    const seq = this.sql.exec<{ s: number | null }>("SELECT MAX(seq) AS s FROM entries").one().s ?? 0;
    return {
      id,
      held_micro: row.held,
      charged_micro: row.charged,
      window: row.window,
      slots: row.slots,
      expires_at: row.expires_at,
      balance_micro: account.balance,
      entry_seq: seq,
      limits: this.limitSnapshot(account, now),
      now,
    };
  }

  /**
   * Opens an allowance, or grows an open one: request slots in the current minute (when
   * `want_slots` > 0; none left is 429) and credits reserved for the caller's instance to hold
   * calls against locally. At least `min_micro` is granted or nothing is (402 short of it, 429 over
   * the daily budget); beyond that, `want_micro` as far as half of what is free, so one instance
   * never takes everything. Slots are likewise granted up to half of what is left this minute.
   */
  openAllowance(name: string, request: AllowanceRequest, call: LedgerCall): LedgerResult<LedgerAllowanceGrant> {
    return this.tx(() => {
      this.expireDue(call.now);
      const account = this.openAccount(name, call.now);
      const existing = this.allowance(request.id);
      if (existing && existing.status !== "open")
        throw new LedgerRefusal("conflict", "this allowance is closed; open a new one");
      const limits = this.limitSnapshot(account, call.now);
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
        grantedSlots = shareOf(limits.rpm.remaining, Math.max(1, request.want_slots), 1);
        this.countRequests(window, grantedSlots);
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
        this.sql.exec(
          "UPDATE allowances SET held = held + ?, window = ?, slots = ?, expires_at = ? WHERE id = ?",
          grantedMicro,
          window,
          slots,
          expiresAt,
          request.id,
        );
      } else {
        this.sql.exec(
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
      this.sql.exec("UPDATE account SET reserved = reserved + ? WHERE id = 1", grantedMicro);
      this.scheduleAlarm(expiresAt);
      return {
        ...this.allowanceState(request.id, call.now),
        granted_micro: grantedMicro,
        granted_slots: grantedSlots,
      };
    });
  }

  /**
   * Charges calls held against an allowance, each as its own `settle` entry (id `settle:<draw id>`,
   * so a draw settled twice is charged once). A cost is taken from the allowance first and any
   * excess from the free balance, never below zero; a closed allowance charges from the free
   * balance only. With `release`, the allowance closes: its credits are freed and its unused slots
   * of the current minute returned.
   */
  settleAllowance(
    id: string,
    draws: AllowanceDraw[],
    release: { unusedSlots: number } | null,
    call: LedgerCall,
  ): LedgerResult<LedgerAllowanceSettlement> {
    return this.tx(() => {
      this.expireDue(call.now);
      const account = this.requireAccount();
      const row = this.allowance(id);
      if (!row) throw new LedgerRefusal("not_found", `no allowance ${id}`);
      // One pass in memory and one write per entry: a settlement carries many calls, and the object
      // answers nothing else while it runs.
      const done = this.settledBefore(draws.map((draw) => `settle:${draw.id}`));
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
        this.sql.exec(
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
          this.queueUsage({ id: draw.id, at, requestId: draw.request_id, usage: draw.usage, chargedMicro: charged });
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
          this.sql.exec(
            "UPDATE rate_window SET count = MAX(0, count - ?) WHERE id = 1 AND window = ?",
            unused,
            row.window,
          );
      }
      this.sql.exec(
        "UPDATE allowances SET held = ?, charged = charged + ?, status = ?, closed_at = ? WHERE id = ?",
        open ? held : row.held,
        total,
        status,
        closedAt,
        id,
      );
      this.sql.exec("UPDATE account SET balance = ?, reserved = ? WHERE id = 1", balance, reserved);
      if (total > 0)
        this.sql.exec(
          "INSERT INTO daily_spend (day, spent) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET spent = spent + excluded.spent",
          Math.floor(call.now / DAY_MS),
          total,
        );
      return { ...this.allowanceState(id, call.now), draws: settled };
    });
  }

  /** The charges already written under these entry ids. */
  private settledBefore(entryIds: string[]): Map<string, number> {
    const found = new Map<string, number>();
    // SQLite binds at most 100 parameters per statement in Durable Objects.
    for (let i = 0; i < entryIds.length; i += 100) {
      const chunk = entryIds.slice(i, i + 100);
      const rows = this.sql.exec<{ id: string; amount: number }>(
        `SELECT id, amount FROM entries WHERE id IN (${chunk.map(() => "?").join(",")})`,
        ...chunk,
      );
      for (const row of rows) found.set(row.id, -row.amount);
    }
    return found;
  }

  /**
   * Starts a multi-step operation under an idempotency key: `new` (go ahead), `replay` with the
   * first answer, or a refusal: `conflict` while the first attempt is still in flight,
   * `idempotency_mismatch` for a different request under the same key.
   */
  beginIdempotent(
    name: string,
    key: string,
    fingerprint: string,
    now: number,
  ): LedgerResult<{ state: "new" } | { state: "replay"; response: string }> {
    return this.tx(() => {
      const row = this.sql
        .exec<{ fingerprint: string; state: string; response: string | null; created_at: number }>(
          "SELECT fingerprint, state, response, created_at FROM idempotency WHERE key = ?",
          key,
        )
        .toArray()[0];
      if (row) {
        if (row.fingerprint !== fingerprint) {
          throw new LedgerRefusal("idempotency_mismatch", "this Idempotency-Key was used with a different request");
        }
        if (row.state === "in_flight") {
          // An attempt whose worker died never completes or abandons: after a while it is taken over.
          if (now - row.created_at < IN_FLIGHT_TAKEOVER_MS) {
            throw new LedgerRefusal("conflict", "a request with this Idempotency-Key is still in flight");
          }
          this.sql.exec("UPDATE idempotency SET created_at = ? WHERE key = ?", now, key);
          return { state: "new" as const };
        }
        return { state: "replay" as const, response: row.response ?? "null" };
      }
      this.openAccount(name, now);
      this.sql.exec(
        "INSERT INTO idempotency (key, fingerprint, state, created_at) VALUES (?, ?, 'in_flight', ?)",
        key,
        fingerprint,
        now,
      );
      this.scheduleAlarm(now + IDEMPOTENCY_RETENTION_MS);
      return { state: "new" as const };
    });
  }

  /** Records the answer of a finished operation so replays return it. */
  completeIdempotent(key: string, response: string): void {
    this.sql.exec("UPDATE idempotency SET state = 'done', response = ? WHERE key = ?", response, key);
  }

  /** Forgets a failed attempt so the client may retry it with the same key. */
  abandonIdempotent(key: string): void {
    this.sql.exec("DELETE FROM idempotency WHERE key = ? AND state = 'in_flight'", key);
  }

  /** The invariants, as stored: tests and operators check them. */
  audit(): { balance: number; entriesSum: number; reserved: number; openHolds: number; negativeBalances: number } {
    const account = this.account();
    const entriesSum = this.sql.exec<{ s: number | null }>("SELECT SUM(amount) AS s FROM entries").one().s ?? 0;
    const openHolds =
      this.sql
        .exec<{ s: number }>(
          `SELECT (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'open')
                + (SELECT COALESCE(SUM(held), 0) FROM allowances WHERE status = 'open') AS s`,
        )
        .one().s ?? 0;
    const negativeBalances = this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries WHERE balance_after < 0")
      .one().n;
    return {
      balance: account?.balance ?? 0,
      entriesSum,
      reserved: account?.reserved ?? 0,
      openHolds,
      negativeBalances,
    };
  }

  /** Records a charged call's usage event next to its charge; the alarm carries it to KV. */
  private queueUsage(charged: ChargedUsage): void {
    const account = this.requireAccount();
    queueUsage(this.sql, account.name, charged);
    this.scheduleAlarm(Date.now() + USAGE_OUTBOX_DELAY_MS);
  }

  /**
   * Carries queued usage events to KV, expires due holds, prunes old idempotency records and closed
   * holds, and re-arms.
   */
  override async alarm(): Promise<void> {
    const account = this.account();
    if (account) {
      try {
        await carryUsage(this.sql, this.env.KV_BILLING, account.name, usageTtlSeconds(this.env));
      } catch (error) {
        // Kept in the outbox: the next alarm (set below) tries again.
        console.log(JSON.stringify({ level: "error", msg: "usage events not carried to KV", error: String(error) }));
      }
    }
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      if (!this.account()) return;
      this.expireDue(now);
      this.sql.exec("DELETE FROM idempotency WHERE created_at < ?", now - IDEMPOTENCY_RETENTION_MS);
      this.sql.exec("DELETE FROM holds WHERE status != 'open' AND closed_at < ?", now - CLOSED_HOLD_RETENTION_MS);
      this.sql.exec("DELETE FROM allowances WHERE status != 'open' AND closed_at < ?", now - CLOSED_HOLD_RETENTION_MS);
      this.sql.exec("DELETE FROM daily_spend WHERE day < ?", Math.floor(now / DAY_MS) - 2);
      // Wake for the next expiry, or daily while there is anything left to prune.
      const nextExpiry = this.sql
        .exec<{ t: number | null }>(
          `SELECT MIN(t) AS t FROM (SELECT MIN(expires_at) AS t FROM holds WHERE status = 'open'
                                    UNION ALL SELECT MIN(expires_at) FROM allowances WHERE status = 'open')`,
        )
        .one().t;
      const leftovers =
        this.sql
          .exec<{ n: number }>(
            `SELECT (SELECT COUNT(*) FROM idempotency) + (SELECT COUNT(*) FROM holds WHERE status != 'open')
                  + (SELECT COUNT(*) FROM allowances WHERE status != 'open') AS n`,
          )
          .one().n > 0;
      let next = nextExpiry ?? (leftovers ? now + DAY_MS : null);
      // Events still queued (KV failed, or they came in meanwhile): carry them shortly.
      if (usagePending(this.sql)) next = Math.min(next ?? Number.MAX_SAFE_INTEGER, now + USAGE_OUTBOX_DELAY_MS);
      this.sql.exec("UPDATE account SET next_alarm = ? WHERE id = 1", next);
      if (next !== null) void this.ctx.storage.setAlarm(next);
    });
  }
}
