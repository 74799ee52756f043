import type { AllowanceState } from "@cognomega/shared";
import { defaultLimits } from "./config";
import type { AccountRow, AllowanceRow, EntryRow, HoldRow } from "./ledger-schema";
import { LedgerRefusal } from "./result";
import { type ChargedUsage, queueUsage, USAGE_OUTBOX_DELAY_MS } from "./usage-outbox";

/** Who and what caused a ledger call; `now` comes from the caller so tests can move time. */
export interface LedgerCall {
  now: number;
  requestId: string;
  actor: string;
}

/** Limits with what is left, in requests and micro-credits (a type alias: it travels as JSON). */
export type LimitSnapshot = {
  rpm: { limit: number; remaining: number; resetSeconds: number };
  daily: { limit: number; remaining: number; resetSeconds: number };
};

/** Balance, reservations and open holds of one account, in micro-credits. */
export interface AccountSnapshot {
  name: string;
  balance: number;
  reserved: number;
  holds: HoldRow[];
}

/** An allowance's state with limits as the ledger keeps them (BillingService makes them public). */
export type LedgerAllowanceState = Omit<AllowanceState, "limits"> & { limits: LimitSnapshot };

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
/**
 * A closed slot lease (an allowance with request slots that never charged anything: a gateway
 * isolate's) is kept this long, then pruned. Its slots count only in their minute, which is over
 * by then, and nothing is ever drawn on it; a busy account opens thousands a day.
 */
export const SLOT_LEASE_RETENTION_MS = 2 * MINUTE_MS;

/**
 * The reads and writes one account's ledger is made of, over its SQLite storage. Every caller runs
 * inside the AccountLedger's `transactionSync`, so these compose into one atomic call.
 */
export class AccountStore {
  constructor(
    readonly sql: SqlStorage,
    private readonly storage: DurableObjectStorage,
    private readonly env: BillingEnv,
  ) {}

  account(): AccountRow | undefined {
    return this.sql.exec<AccountRow>("SELECT * FROM account WHERE id = 1").toArray()[0] as AccountRow | undefined;
  }

  requireAccount(): AccountRow {
    const account = this.account();
    if (!account) throw new LedgerRefusal("not_found", "unknown account: it has never signed in");
    return account;
  }

  openAccount(name: string, now: number): AccountRow {
    const existing = this.account();
    if (existing) return existing;
    this.sql.exec("INSERT INTO account (id, name, balance, reserved, opened_at) VALUES (1, ?, 0, 0, ?)", name, now);
    return this.requireAccount();
  }

  /** Releases every open hold and allowance whose time is up. Runs first in every call, and from the alarm. */
  expireDue(now: number): void {
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

  /** Deletes the slot leases closed more than SLOT_LEASE_RETENTION_MS before `now`. */
  pruneSlotLeases(now: number): void {
    this.sql.exec(
      "DELETE FROM allowances WHERE status IN ('released', 'expired') AND slots > 0 AND charged = 0 AND closed_at < ?",
      now - SLOT_LEASE_RETENTION_MS,
    );
  }

  /** When the oldest closed slot lease is due to be pruned, if there is one. */
  nextSlotLeasePrune(): number | null {
    const oldest = this.sql
      .exec<{ t: number | null }>(
        "SELECT MIN(closed_at) AS t FROM allowances WHERE status IN ('released', 'expired') AND slots > 0 AND charged = 0",
      )
      .one().t;
    return oldest === null ? null : oldest + SLOT_LEASE_RETENTION_MS;
  }

  /** Balance, reservations and the first 100 open holds (an open allowance with credits is one). */
  snapshot(): AccountSnapshot {
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

  appendEntry(entry: Omit<EntryRow, "seq" | "balance_after">, balance: number): EntryRow {
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

  entry(id: string): EntryRow | undefined {
    return this.sql.exec<EntryRow>("SELECT * FROM entries WHERE id = ?", id).toArray()[0] as EntryRow | undefined;
  }

  hold(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0] as HoldRow | undefined;
  }

  spentOn(day: number): number {
    return (
      this.sql.exec<{ spent: number }>("SELECT spent FROM daily_spend WHERE day = ?", day).toArray()[0]?.spent ?? 0
    );
  }

  limitSnapshot(account: AccountRow, now: number, used?: number): LimitSnapshot {
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

  /** Counts `n` requests in the minute `window` (a new minute starts from zero). */
  countRequests(window: number, n: number): void {
    this.sql.exec(
      "INSERT INTO rate_window (id, window, count) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET window = excluded.window, count = CASE WHEN window = excluded.window THEN count + ?2 ELSE ?2 END",
      window,
      n,
    );
  }

  scheduleAlarm(at: number): void {
    const account = this.requireAccount();
    if (account.next_alarm !== null && account.next_alarm <= at) return;
    this.sql.exec("UPDATE account SET next_alarm = ? WHERE id = 1", at);
    void this.storage.setAlarm(at);
  }

  /** Records a charged call's usage event next to its charge; the alarm carries it to KV. */
  queueUsage(charged: ChargedUsage): void {
    const account = this.requireAccount();
    queueUsage(this.sql, account.name, charged);
    this.scheduleAlarm(Date.now() + USAGE_OUTBOX_DELAY_MS);
  }

  allowance(id: string): AllowanceRow | undefined {
    return this.sql.exec<AllowanceRow>("SELECT * FROM allowances WHERE id = ?", id).toArray()[0] as
      | AllowanceRow
      | undefined;
  }

  allowanceState(id: string, now: number): LedgerAllowanceState {
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

  /** The charges already written under these entry ids. */
  settledBefore(entryIds: string[]): Map<string, number> {
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
}
