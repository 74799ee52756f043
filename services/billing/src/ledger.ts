import { DurableObject } from "cloudflare:workers";
import {
  type AiUsage,
  type AllowanceDraw,
  type AllowanceRequest,
  isSha256Hex,
  logEvent,
  sha256Hex,
} from "@cognomega/shared";
import {
  type AccountSnapshot,
  AccountStore,
  DAY_MS,
  type LedgerCall,
  type LimitSnapshot,
  MINUTE_MS,
} from "./account-store";
import {
  type LedgerAllowanceGrant,
  type LedgerAllowanceSettlement,
  openAllowance,
  settleAllowance,
} from "./allowance-ledger";
import { usageTtlSeconds } from "./config";
import { type EntryRow, type HoldRow, LEDGER_SCHEMA, migrateLedger } from "./ledger-schema";
import { attempt, LedgerRefusal, type LedgerResult } from "./result";
import { BILLING_SETTINGS } from "./settings";
import { carryUsage, USAGE_OUTBOX_DELAY_MS, usagePending } from "./usage-outbox";

export type { AccountSnapshot, LedgerCall, LimitSnapshot } from "./account-store";
export type { LedgerAllowanceGrant, LedgerAllowanceSettlement } from "./allowance-ledger";

/** Idempotency records of multi-step operations are kept at least this long (24 h promised). */
const IDEMPOTENCY_RETENTION_MS = 2 * DAY_MS;
/**
 * An in-flight operation is presumed dead, and may be taken over, once its lease is up: the caller
 * asks for one as long as the longest call the operation makes, never shorter than this.
 */
const MIN_IN_FLIGHT_LEASE_MS = 10 * 60_000;
/** The longest lease an operation may ask for (a stream's hold lives at most an hour). */
export const MAX_IN_FLIGHT_LEASE_MS = 2 * 3_600_000;
/** Closed holds are kept this long for support questions, then pruned. */
const CLOSED_HOLD_RETENTION_MS = 7 * DAY_MS;

/**
 * One account's money, in a SQLite-backed Durable Object. Every method runs synchronously inside
 * one `transactionSync`: no `await` splits a read from its write, so concurrent calls are applied
 * one after another and never lose an update, and a refusal rolls the whole call back.
 */
export class AccountLedger extends DurableObject<BillingEnv> {
  private readonly store: AccountStore;

  constructor(ctx: DurableObjectState, env: BillingEnv) {
    super(ctx, env);
    this.store = new AccountStore(ctx.storage.sql, ctx.storage, env);
    for (const statement of LEDGER_SCHEMA) this.store.sql.exec(statement);
    migrateLedger(this.store.sql);
  }

  private tx<T>(operation: () => T): LedgerResult<T> {
    return attempt(() => this.ctx.storage.transactionSync(operation));
  }

  /** Opens the account if it is new; its balance, holds and limits, as of one transaction. */
  open(name: string, now: number): LedgerResult<AccountSnapshot & { limits: LimitSnapshot }> {
    return this.tx(() => {
      this.store.openAccount(name, now);
      const snapshot = this.snapshotNow(now);
      return { ...snapshot, limits: this.store.limitSnapshot(this.store.requireAccount(), now) };
    });
  }

  private snapshotNow(now: number): AccountSnapshot {
    this.store.expireDue(now);
    return this.store.snapshot();
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
      const account = this.store.openAccount(name, call.now);
      const existing = this.store.entry("grant:starter");
      if (existing) return { granted: false, entry: existing };
      if (amount === 0) return { granted: false, entry: null };
      const entry = this.store.appendEntry(
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
      this.store.expireDue(call.now);
      const account = this.store.requireAccount();
      const id = `adjust:${key}`;
      const previous = this.store.entry(id);
      if (previous) {
        if (previous.amount === delta && previous.reason === reason) return previous;
        throw new LedgerRefusal("idempotency_mismatch", "this Idempotency-Key was used with a different request");
      }
      if (delta < 0 && account.balance - account.reserved + delta < 0) {
        throw new LedgerRefusal("insufficient_credits", "not enough available credits for this debit", {
          available: account.balance - account.reserved,
        });
      }
      return this.store.appendEntry(
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
  reserve(
    holdId: string,
    amount: number,
    ttlMs: number,
    call: LedgerCall,
  ): LedgerResult<{ hold: HoldRow; balance: number }> {
    return this.tx(() => {
      this.store.expireDue(call.now);
      const account = this.store.requireAccount();
      const previous = this.store.hold(holdId);
      if (previous) {
        if (previous.amount === amount) return { hold: previous, balance: account.balance };
        throw new LedgerRefusal("idempotency_mismatch", "this hold id was used with a different amount");
      }
      const available = account.balance - account.reserved;
      if (amount > available) {
        throw new LedgerRefusal("insufficient_credits", "not enough available credits to reserve", {
          available,
          needed: amount,
        });
      }
      const limits = this.store.limitSnapshot(account, call.now);
      if (amount > limits.daily.remaining) {
        throw new LedgerRefusal("rate_limited", "the daily credit budget would be exceeded", {
          retry_after: limits.daily.resetSeconds,
          limit: "daily_credits",
        });
      }
      const expiresAt = call.now + ttlMs;
      this.store.sql.exec(
        "INSERT INTO holds (id, amount, status, created_at, expires_at, request_id) VALUES (?, ?, 'open', ?, ?, ?)",
        holdId,
        amount,
        call.now,
        expiresAt,
        call.requestId,
      );
      this.store.sql.exec("UPDATE account SET reserved = reserved + ? WHERE id = 1", amount);
      this.store.scheduleAlarm(expiresAt);
      return { hold: this.store.hold(holdId) as HoldRow, balance: account.balance };
    });
  }

  /**
   * Charges the actual cost of a call against its hold and releases the rest. The hold bounds what
   * concurrent calls may spend; when the actual cost is higher (a prompt the estimate under-counted)
   * the excess is charged from the available balance, as far as it goes, and never below zero: the
   * entry records what was charged, the answer says what fell short. The same applies to a hold
   * that expired before its call ended. Settling again with the same amount replays; with another
   * amount it is `idempotency_mismatch`.
   *
   * The charge is the entry `settle:<chargeId>` (the hold's id unless given): an operation whose
   * calls take several holds over its attempts (a retried stream) names one charge, and a hold
   * settled under a charge already made is released without charging again.
   */
  settle(
    holdId: string,
    actual: number,
    call: LedgerCall,
    usage?: AiUsage,
    chargeId: string = holdId,
  ): LedgerResult<{ hold: HoldRow; entry: EntryRow; shortfall: number }> {
    return this.tx(() => {
      this.store.expireDue(call.now);
      const account = this.store.requireAccount();
      const hold = this.store.hold(holdId);
      if (!hold) throw new LedgerRefusal("not_found", `no hold ${holdId}`);
      const entryId = `settle:${chargeId}`;
      if (hold.status === "settled") {
        if (hold.settled !== actual)
          throw new LedgerRefusal("idempotency_mismatch", "this hold was settled with a different amount");
        const entry = this.store.entry(entryId);
        if (!entry) throw new LedgerRefusal("idempotency_mismatch", "this hold was settled under another charge");
        return { hold, entry, shortfall: Math.max(0, actual + entry.amount) };
      }
      if (hold.status === "voided") throw new LedgerRefusal("conflict", "this hold was voided");
      if (hold.status === "open")
        this.store.sql.exec("UPDATE account SET reserved = reserved - ? WHERE id = 1", hold.amount);
      const made = this.store.entry(entryId);
      if (made) {
        // An earlier attempt of the same operation was charged: this one is not charged again.
        this.store.sql.exec(
          "UPDATE holds SET status = 'settled', settled = ?, closed_at = ? WHERE id = ?",
          actual,
          call.now,
          holdId,
        );
        return { hold: this.store.hold(holdId) as HoldRow, entry: made, shortfall: 0 };
      }
      const released = this.store.requireAccount();
      const charged = Math.min(actual, released.balance - released.reserved);
      this.store.sql.exec(
        "UPDATE holds SET status = 'settled', settled = ?, closed_at = ? WHERE id = ?",
        actual,
        call.now,
        holdId,
      );
      const day = Math.floor(call.now / DAY_MS);
      this.store.sql.exec(
        "INSERT INTO daily_spend (day, spent) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET spent = spent + excluded.spent",
        day,
        charged,
      );
      const notes: string[] = [];
      if (hold.status === "expired") notes.push("settled after the hold expired");
      if (charged < actual) notes.push(`cost ${actual}, balance covered ${charged}`);
      const entry = this.store.appendEntry(
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
      if (usage)
        this.store.queueUsage({ id: chargeId, at: call.now, requestId: call.requestId, usage, chargedMicro: charged });
      return { hold: this.store.hold(holdId) as HoldRow, entry, shortfall: actual - charged };
    });
  }

  /** Releases a hold without charging. Voiding twice, or an expired hold, is a no-op. */
  release(holdId: string, call: LedgerCall): LedgerResult<HoldRow> {
    return this.tx(() => {
      this.store.expireDue(call.now);
      this.store.requireAccount();
      const hold = this.store.hold(holdId);
      if (!hold) throw new LedgerRefusal("not_found", `no hold ${holdId}`);
      if (hold.status === "settled") throw new LedgerRefusal("conflict", "this hold was already settled");
      if (hold.status === "open") {
        this.store.sql.exec("UPDATE holds SET status = 'voided', closed_at = ? WHERE id = ?", call.now, holdId);
        this.store.sql.exec("UPDATE account SET reserved = reserved - ? WHERE id = 1", hold.amount);
      }
      return this.store.hold(holdId) as HoldRow;
    });
  }

  /** Entries newest first, `limit` at a time, before the sequence number `before`. */
  history(before: number | null, limit: number): LedgerResult<{ entries: EntryRow[]; next: number | null }> {
    return this.tx(() => {
      this.store.requireAccount();
      const entries = this.store.sql
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
      this.store.expireDue(now);
      const opened = this.store.openAccount(name, now);
      // A caller-supplied limit (e.g. guest tokens per client address) wins over the account's.
      const account = rpmOverride === undefined ? opened : { ...opened, rpm_limit: rpmOverride };
      const window = Math.floor(now / MINUTE_MS);
      const row = this.store.sql
        .exec<{ window: number; count: number }>("SELECT window, count FROM rate_window WHERE id = 1")
        .toArray()[0];
      const count = row && row.window === window ? row.count : 0;
      const limits = this.store.limitSnapshot(account, now, count);
      if (count >= limits.rpm.limit) {
        throw new LedgerRefusal("rate_limited", `over ${limits.rpm.limit} requests per minute`, {
          retry_after: limits.rpm.resetSeconds,
          limit: "rpm",
          limits,
        });
      }
      this.store.countRequests(window, 1);
      return this.store.limitSnapshot(account, now, count + 1);
    });
  }

  /** The account's limits and what is left of them, without counting a request. */
  limits(now: number): LedgerResult<LimitSnapshot> {
    return this.tx(() => {
      this.store.expireDue(now);
      return this.store.limitSnapshot(this.store.requireAccount(), now);
    });
  }

  /** Sets (or with `null` clears) the tenant's own limits; `undefined` leaves one unchanged. */
  setLimits(
    rpm: number | null | undefined,
    dailyMicro: number | null | undefined,
    now: number,
  ): LedgerResult<LimitSnapshot> {
    return this.tx(() => {
      this.store.requireAccount();
      if (rpm !== undefined) this.store.sql.exec("UPDATE account SET rpm_limit = ? WHERE id = 1", rpm);
      if (dailyMicro !== undefined) this.store.sql.exec("UPDATE account SET daily_limit = ? WHERE id = 1", dailyMicro);
      return this.store.limitSnapshot(this.store.requireAccount(), now);
    });
  }

  /**
   * Opens an allowance, or grows an open one: request slots in the current minute (when
   * `want_slots` > 0; none left is 429) and credits reserved for the caller's instance to hold
   * calls against locally. At least `min_micro` is granted or nothing is (402 short of it, 429 over
   * the daily budget); beyond that, `want_micro` as far as half of what is free, so one instance
   * never takes everything. Slots are granted up to half of what is left this minute and at most
   * ceil(limit / 16); a grant of slots carries the account's snapshot too.
   */
  openAllowance(name: string, request: AllowanceRequest, call: LedgerCall): LedgerResult<LedgerAllowanceGrant> {
    return this.tx(() => openAllowance(this.store, name, request, call));
  }

  /**
   * Charges calls held against an allowance, each as its own `settle` entry (id `settle:<draw id>`,
   * so a draw settled twice is charged once) with its usage event queued beside it. A cost is taken
   * from the allowance first and any excess from the free balance, never below zero; a closed
   * allowance charges from the free balance only. With `release`, the allowance closes: its credits
   * are freed and its unused slots of the current minute returned.
   */
  settleAllowance(
    id: string,
    draws: AllowanceDraw[],
    release: { unusedSlots: number } | null,
    call: LedgerCall,
  ): LedgerResult<LedgerAllowanceSettlement> {
    return this.tx(() => settleAllowance(this.store, id, draws, release, call));
  }

  /**
   * Starts a multi-step operation under an idempotency key: `new` (go ahead) with the nonce that
   * names its charges, `replay` with the first answer, or a refusal: `conflict` while the first
   * attempt is still in flight (within its lease of `leaseMs`; `retry_after` is the seconds left of
   * it), `idempotency_mismatch` for a different request under the same key. The nonce lives as
   * long as the record: a retry after a failed or dead attempt gets the same one (a charge it made
   * is not made twice), a key reused once the record is past retention gets a new one (a new
   * operation, billed as one).
   *
   * A record keeps only a SHA-256 of the request (SI sends one; a request sent whole is hashed
   * here). A record written before fingerprints were hashed holds the whole request: it is hashed to
   * compare, so a retry across that deploy is still the same operation.
   */
  async beginIdempotent(
    name: string,
    key: string,
    requestFingerprint: string,
    now: number,
    leaseMs = MIN_IN_FLIGHT_LEASE_MS,
  ): Promise<LedgerResult<{ state: "new"; nonce: string } | { state: "replay"; response: string }>> {
    const fingerprint = isSha256Hex(requestFingerprint) ? requestFingerprint : await sha256Hex(requestFingerprint);
    // Hashing yields to other events, so the transaction reads the record again: the digest of an old
    // record is used only if that record is still the one it was computed from.
    const stored = this.store.sql
      .exec<{ fingerprint: string }>("SELECT fingerprint FROM idempotency WHERE key = ?", key)
      .toArray()[0]?.fingerprint;
    const legacy =
      stored !== undefined && !isSha256Hex(stored) ? { whole: stored, digest: await sha256Hex(stored) } : undefined;
    return this.tx(() => {
      const leaseUntil = now + Math.min(MAX_IN_FLIGHT_LEASE_MS, Math.max(MIN_IN_FLIGHT_LEASE_MS, leaseMs));
      let row = this.store.sql
        .exec<{
          fingerprint: string;
          state: string;
          response: string | null;
          created_at: number;
          nonce: string | null;
          lease_until: number | null;
        }>("SELECT fingerprint, state, response, created_at, nonce, lease_until FROM idempotency WHERE key = ?", key)
        .toArray()[0];
      if (row && legacy && row.fingerprint === legacy.whole) row = { ...row, fingerprint: legacy.digest };
      // Past retention a record is gone, whether or not the alarm has pruned it yet.
      if (row && row.created_at < now - IDEMPOTENCY_RETENTION_MS) {
        this.store.sql.exec("DELETE FROM idempotency WHERE key = ?", key);
        row = undefined;
      }
      const restart = (nonce: string) => {
        this.store.sql.exec(
          "UPDATE idempotency SET fingerprint = ?, state = 'in_flight', response = NULL, created_at = ?, nonce = ?, lease_until = ? WHERE key = ?",
          fingerprint,
          now,
          nonce,
          leaseUntil,
          key,
        );
        return { state: "new" as const, nonce };
      };
      if (row) {
        if (row.state === "abandoned") {
          // The same request retried keeps the nonce; another request under the key is a new operation.
          return restart(row.fingerprint === fingerprint && row.nonce ? row.nonce : crypto.randomUUID());
        }
        if (row.fingerprint !== fingerprint) {
          throw new LedgerRefusal("idempotency_mismatch", "this Idempotency-Key was used with a different request");
        }
        if (row.state === "in_flight") {
          // An attempt whose worker died never completes or abandons: once its lease is up it is taken over.
          const leaseEnd = row.lease_until ?? row.created_at + MIN_IN_FLIGHT_LEASE_MS;
          if (now < leaseEnd) {
            // When the lease is up, so a retry (a job's runner, a client) waits that long, not a guess.
            throw new LedgerRefusal("conflict", "a request with this Idempotency-Key is still in flight", {
              retry_after: Math.ceil((leaseEnd - now) / 1000),
            });
          }
          return restart(row.nonce ?? crypto.randomUUID());
        }
        return { state: "replay" as const, response: row.response ?? "null" };
      }
      this.store.openAccount(name, now);
      const nonce = crypto.randomUUID();
      this.store.sql.exec(
        "INSERT INTO idempotency (key, fingerprint, state, created_at, nonce, lease_until) VALUES (?, ?, 'in_flight', ?, ?, ?)",
        key,
        fingerprint,
        now,
        nonce,
        leaseUntil,
      );
      this.store.scheduleAlarm(now + IDEMPOTENCY_RETENTION_MS);
      return { state: "new" as const, nonce };
    });
  }

  /** Records the answer of a finished operation so replays return it. */
  completeIdempotent(key: string, response: string): void {
    this.store.sql.exec("UPDATE idempotency SET state = 'done', response = ? WHERE key = ?", response, key);
  }

  /**
   * Marks a failed attempt so the client may retry it with the same key. The record (and its nonce)
   * stays until retention ends: a charge of the failed attempt may still be on its way to the ledger.
   */
  abandonIdempotent(key: string): void {
    this.store.sql.exec("UPDATE idempotency SET state = 'abandoned' WHERE key = ? AND state = 'in_flight'", key);
  }

  /** The invariants, as stored: tests and operators check them. */
  audit(): { balance: number; entriesSum: number; reserved: number; openHolds: number; negativeBalances: number } {
    const account = this.store.account();
    const entriesSum = this.store.sql.exec<{ s: number | null }>("SELECT SUM(amount) AS s FROM entries").one().s ?? 0;
    const openHolds =
      this.store.sql
        .exec<{ s: number }>(
          `SELECT (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'open')
                + (SELECT COALESCE(SUM(held), 0) FROM allowances WHERE status = 'open') AS s`,
        )
        .one().s ?? 0;
    const negativeBalances = this.store.sql
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

  /** Expires due holds and deletes what is past its retention at `now`. */
  private prune(now: number): void {
    this.store.expireDue(now);
    this.store.pruneSlotLeases(now);
    this.store.sql.exec("DELETE FROM idempotency WHERE created_at < ?", now - IDEMPOTENCY_RETENTION_MS);
    this.store.sql.exec("DELETE FROM holds WHERE status != 'open' AND closed_at < ?", now - CLOSED_HOLD_RETENTION_MS);
    this.store.sql.exec(
      "DELETE FROM allowances WHERE status != 'open' AND closed_at < ?",
      now - CLOSED_HOLD_RETENTION_MS,
    );
    this.store.sql.exec("DELETE FROM daily_spend WHERE day < ?", Math.floor(now / DAY_MS) - 2);
  }

  /**
   * Test seam: prunes as the alarm would at `now`, so a test can move past the retention periods.
   * Refused unless ENVIRONMENT is `test`: elsewhere pruning runs only from the alarm, on the real clock.
   */
  pruneAsOf(now: number): LedgerResult<null> {
    return this.tx(() => {
      if (BILLING_SETTINGS.read(this.env).ENVIRONMENT !== "test")
        throw new LedgerRefusal("forbidden", "pruneAsOf is for tests only");
      if (this.store.account()) this.prune(now);
      return null;
    });
  }

  /**
   * Carries queued usage events to KV, expires due holds, prunes old idempotency records and closed
   * holds, and re-arms.
   */
  override async alarm(): Promise<void> {
    const account = this.store.account();
    if (account) {
      try {
        await carryUsage(this.store.sql, this.env.KV_BILLING, account.name, usageTtlSeconds(this.env));
      } catch (error) {
        // Kept in the outbox: the next alarm (set below) tries again.
        logEvent("error", "usage events not carried to KV", { error });
      }
    }
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      if (!this.store.account()) return;
      this.prune(now);
      // Wake for the next expiry, or daily while there is anything left to prune.
      const nextExpiry = this.store.sql
        .exec<{ t: number | null }>(
          `SELECT MIN(t) AS t FROM (SELECT MIN(expires_at) AS t FROM holds WHERE status = 'open'
                                    UNION ALL SELECT MIN(expires_at) FROM allowances WHERE status = 'open')`,
        )
        .one().t;
      const leftovers =
        this.store.sql
          .exec<{ n: number }>(
            `SELECT (SELECT COUNT(*) FROM idempotency) + (SELECT COUNT(*) FROM holds WHERE status != 'open')
                  + (SELECT COUNT(*) FROM allowances WHERE status != 'open') AS n`,
          )
          .one().n > 0;
      let next = nextExpiry ?? (leftovers ? now + DAY_MS : null);
      // Closed slot leases go minutes after they close, not a day later.
      const leases = this.store.nextSlotLeasePrune();
      if (leases !== null) next = Math.min(next ?? Number.MAX_SAFE_INTEGER, Math.max(leases, now + 1_000));
      // Events still queued (KV failed, or they came in meanwhile): carry them shortly.
      if (usagePending(this.store.sql)) next = Math.min(next ?? Number.MAX_SAFE_INTEGER, now + USAGE_OUTBOX_DELAY_MS);
      this.store.sql.exec("UPDATE account SET next_alarm = ? WHERE id = 1", next);
      if (next !== null) void this.ctx.storage.setAlarm(next);
    });
  }
}
