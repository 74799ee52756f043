import type { AllowanceDraw, AllowanceGrant, AllowanceRequest, AllowanceSettlement, LimitState } from "./credits";
import { isServiceError } from "./errors";
import type { CallContext, Identity } from "./identity";
import { IdleWatch } from "./idle-watch";
import { logEvent } from "./log";

/**
 * Credit allowances: how a metered call (an SI ask, a voice call) is held without a ledger round
 * trip.
 *
 * An instance asks the account's ledger, in one transaction, for credits reserved to it (an
 * allowance). Calls then take their worst-case hold from the allowance in memory: JavaScript runs one task at a time per isolate, so
 * two calls can never take the same credits, and the ledger never lets allowances and holds
 * together exceed the balance. A call's actual cost is charged after the answer goes out, as its
 * own ledger entry (idempotent per call), in batches. What an allowance holds is freed when it has
 * been idle for `idleMs`, and by the ledger when it expires if this instance is gone.
 *
 * What this trades: an answer no longer waits for the ledger; `balance` in it is the balance after
 * its charge as this instance knows it (exact unless other instances spend concurrently); and, as
 * before, an instance that dies between answering and settling loses that charge for the platform
 * (a window of about `batchMs`, or longer while the ledger is unreachable) — never the caller's
 * money. An ask under an idempotency key uses ids derived from the key, so running it again
 * cannot charge it twice.
 */

/** How allowances are sized and kept. */
export interface AllowanceSettings {
  /** Credits an allowance asks for (the ledger grants at most half of what is free). */
  targetMicro: number;
  /** An allowance unused this long is released; 0 releases it after every burst of calls. */
  idleMs: number;
  /** Charges are written this long after a call, together with those of calls made meanwhile. */
  batchMs: number;
  /** The longest a call may hold credits; a call holding longer is presumed abandoned. */
  callTtlSeconds: number;
}

/**
 * The part of BillingService an allowance needs (structural, so no worker imports another): opens or
 * grows an allowance, and charges calls against it (releasing it with `release`).
 */
export interface AllowanceLedger {
  openAllowance(identity: Identity, request: AllowanceRequest, call: CallContext): Promise<AllowanceGrant>;
  settleAllowance(
    identity: Identity,
    allowanceId: string,
    draws: AllowanceDraw[],
    release: { unusedSlots: number } | null,
    call: CallContext,
  ): Promise<AllowanceSettlement>;
}

/** How long an allowance lives beyond the calls drawn on it: it is renewed about this often. */
const ALLOWANCE_SPAN_SECONDS = 60;
const MAX_DRAWS_PER_SETTLEMENT = 256;
/** Waits between attempts of a settlement: about 6 s in all, well inside `waitUntil`'s limit. */
const SETTLE_BACKOFF_MS = [25, 50, 100, 200, 400, 800, 1600, 3200];
/** A shared ledger call (grant, settlement) that has not ended after this long no longer blocks others. */
const STUCK_MS = 15_000;
/** An allowance this close to its expiry is replaced rather than renewed. */
const RENEW_MARGIN_MS = 5_000;

/** Credits one instance holds for one account, mirrored from the ledger. */
export interface Allowance {
  id: string;
  /** Credits granted and not drawn. */
  spendable: number;
  /** On the ledger's clock. */
  expiresAt: number;
  /** Calls holding credits from it, by draw number, with when they took them. */
  open: Map<number, number>;
  lastUsed: number;
  closing: boolean;
}

interface PendingDraw {
  allowance: Allowance;
  draw: AllowanceDraw;
}

function refusedForGood(error: unknown): boolean {
  return isServiceError(error) && (error.code === "invalid_input" || error.code === "not_found");
}

/** A settlement that could not be made: the charges are kept (transient) or set aside (permanent). */
export class SettlementFailure extends Error {}

/** One account's allowances in this isolate. */
export class AccountCredits {
  private current: Allowance | undefined;
  private readonly closing = new Set<Allowance>();
  private readonly pending: PendingDraw[] = [];
  /** Draw ids the ledger refused for good: their charges are logged, never retried. */
  private readonly refused = new Set<string>();
  /** Draw ids of the settlement being sent. */
  private readonly sending = new Set<string>();
  /** Ledger calls for the account run one at a time: each answer then covers every earlier charge. */
  private queue: Promise<unknown> = Promise.resolve();
  private flushing: { since: number; done: Promise<void> } | undefined;
  private batch: { since: number; done: Promise<void> } | undefined;
  /** Releases the allowance once the account has been idle for `idleMs`; made with the first call. */
  private idleWatch: IdleWatch | undefined;
  /** The balance as of the newest ledger answer, and charges made here it does not include yet. */
  private balance = 0;
  private seq = -1;
  private unsent = 0;
  private lastLimits: LimitState | undefined;
  /** The ledger's clock minus this isolate's, as of the last ledger answer. */
  private offset = 0;
  private draws = 0;
  /** Takes under way: while one runs the account is not forgotten. */
  private taking = 0;

  constructor(
    private readonly billing: AllowanceLedger,
    private identity: Identity,
    private readonly settings: AllowanceSettings,
    private readonly now: () => number,
    private readonly onEmpty: () => void,
  ) {}

  /** The latest identity object seen for the account (the same `sub`). */
  touch(identity: Identity): void {
    this.identity = identity;
  }

  private ledgerNow(): number {
    return this.now() + this.offset;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    // A turn that never ends (its request was cancelled mid-call) must not stall the account: after
    // a while the next turn goes ahead; the ledger still applies both in some order.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const turn = Promise.race([
      this.queue,
      new Promise((resolve) => {
        timer = setTimeout(resolve, STUCK_MS);
      }),
    ]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
    const run = turn.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private observe(state: AllowanceGrant | AllowanceSettlement): void {
    this.offset = state.now - this.now();
    if (state.entry_seq >= this.seq) {
      this.seq = state.entry_seq;
      this.balance = state.balance_micro;
    }
    this.lastLimits = state.limits;
  }

  /** The balance as this instance knows it: the newest ledger answer less charges not yet written. */
  knownBalance(): number {
    return Math.max(0, this.balance - this.unsent);
  }

  /** The caller's daily credit budget as of the newest ledger answer. */
  dailyCredits(): LimitState["daily_credits"] | undefined {
    return this.lastLimits?.daily_credits;
  }

  private usable(allowance: Allowance | undefined, amount: number, ttlSeconds: number) {
    if (!allowance || allowance.closing) return false;
    if (allowance.expiresAt - this.ledgerNow() < ttlSeconds * 1000) return false;
    return allowance.spendable >= amount;
  }

  /**
   * Takes `amount` from the allowance, growing or replacing it by one ledger call when it falls
   * short. Null when the balance cannot cover `amount`; the number identifies the draw for
   * `giveBack` and `charge`. An account left with nothing after a refusal is forgotten.
   */
  async take(
    amount: number,
    ttlSeconds: number,
    call: CallContext,
  ): Promise<{ allowance: Allowance; draw: number } | null> {
    this.taking += 1;
    try {
      for (;;) {
        const allowance = this.current;
        if (allowance && this.usable(allowance, amount, ttlSeconds)) {
          allowance.spendable -= amount;
          const draw = ++this.draws;
          allowance.open.set(draw, this.now());
          allowance.lastUsed = this.now();
          return { allowance, draw };
        }
        if (!(await this.grow(amount, ttlSeconds, call))) return null;
      }
    } finally {
      this.taking -= 1;
      this.forgetIfEmpty();
    }
  }

  /** Forgets the account when this instance holds nothing for it and nothing runs for it. */
  private forgetIfEmpty(): void {
    const idle = this.taking === 0 && !this.idleWatch?.running && this.flushing === undefined;
    if (idle && !this.current && this.closing.size === 0 && this.pending.length === 0 && this.sending.size === 0)
      this.onEmpty();
  }

  private grow(amount: number, ttlSeconds: number, call: CallContext): Promise<boolean> {
    return this.exclusive(async () => {
      // Another call may have grown it while this one waited its turn.
      if (this.usable(this.current, amount, ttlSeconds)) return true;
      let target = this.current;
      if (target && (target.closing || target.expiresAt - this.ledgerNow() < RENEW_MARGIN_MS)) {
        // At (or past) its end: the ledger may already have expired it. Let it drain; open another.
        this.retire(target);
        target = undefined;
      }
      const spendable = target?.spendable ?? 0;
      const minMicro = Math.max(0, amount - spendable);
      const wantMicro = Math.max(minMicro, this.settings.targetMicro - spendable);
      let grant: AllowanceGrant;
      try {
        grant = await this.billing.openAllowance(
          this.identity,
          {
            id: target?.id ?? crypto.randomUUID(),
            min_micro: minMicro,
            want_micro: wantMicro,
            want_slots: 0,
            ttl_seconds: Math.min(3600, ttlSeconds + ALLOWANCE_SPAN_SECONDS),
          },
          call,
        );
      } catch (error) {
        if (isServiceError(error) && error.code === "insufficient_credits") return false;
        if (isServiceError(error) && error.code === "conflict" && target) {
          // The ledger closed it already (expired): try again with a new one.
          this.retire(target);
          return true;
        }
        throw error;
      }
      this.observe(grant);
      const allowance: Allowance = target ?? {
        id: grant.id,
        spendable: 0,
        expiresAt: grant.expires_at,
        open: new Map(),
        lastUsed: this.now(),
        closing: false,
      };
      allowance.spendable += grant.granted_micro;
      allowance.expiresAt = grant.expires_at;
      // Retired while the ledger answered (idle): what it was granted is released with it.
      if (!allowance.closing) this.current = allowance;
      return true;
    });
  }

  private retire(allowance: Allowance): void {
    allowance.closing = true;
    if (this.current === allowance) this.current = undefined;
    this.closing.add(allowance);
  }

  /** Gives an unused hold back. */
  giveBack(allowance: Allowance, draw: number, amount: number): void {
    if (!allowance.open.delete(draw)) return;
    allowance.spendable += amount;
  }

  /**
   * Records a finished call's cost against its allowance; the ledger entry is written by the next
   * settlement. Returns the balance after the charge, as this instance knows it.
   */
  charge(allowance: Allowance, draw: number, held: number, charge: AllowanceDraw): number {
    if (!allowance.open.delete(draw)) throw new Error("a hold was charged after it was given back");
    const cost = charge.cost_micro;
    // The ledger takes the cost from the allowance first: mirror it, so spendable never overstates.
    allowance.spendable =
      cost <= held ? allowance.spendable + held - cost : Math.max(0, allowance.spendable - (cost - held));
    this.pending.push({ allowance, draw: charge });
    this.unsent += cost;
    return this.knownBalance();
  }

  /** Calls holding credits that are still live (a call holding past its lifetime was abandoned). */
  private liveCalls(allowance: Allowance): number {
    const cutoff = this.now() - this.settings.callTtlSeconds * 1000;
    let live = 0;
    for (const since of allowance.open.values()) if (since > cutoff) live += 1;
    return live;
  }

  /** Writes every charge recorded so far (and releases retired allowances); resolves when done. */
  flush(call: CallContext): Promise<void> {
    if (!this.flushing || this.now() - this.flushing.since > STUCK_MS) {
      const flushing = {
        since: this.now(),
        done: this.settleAll(call).finally(() => {
          if (this.flushing === flushing) this.flushing = undefined;
        }),
      };
      this.flushing = flushing;
    }
    return this.flushing.done;
  }

  /**
   * Resolves once the charges `ids` are in the ledger; rejects with SettlementFailure when the
   * ledger could not take them (they stay queued for the next settlement, or were refused).
   */
  async written(ids: string[], call: CallContext): Promise<void> {
    await this.flush(call);
    const waiting = new Set(this.pending.map((p) => p.draw.id));
    if (ids.some((id) => waiting.has(id) || this.sending.has(id) || this.refused.has(id)))
      throw new SettlementFailure("the ledger could not record this call's charge yet");
  }

  private nextSettlement(): { allowance: Allowance; draws: PendingDraw[]; release: boolean } | undefined {
    const first = this.pending[0];
    const allowance = first?.allowance ?? [...this.closing].find((candidate) => this.liveCalls(candidate) === 0);
    if (!allowance) return undefined;
    const all = this.pending.filter((p) => p.allowance === allowance);
    const draws = all.slice(0, MAX_DRAWS_PER_SETTLEMENT);
    const release = allowance.closing && this.liveCalls(allowance) === 0 && all.length === draws.length;
    return { allowance, draws, release };
  }

  private async settleOnce(allowance: Allowance, draws: PendingDraw[], release: boolean, call: CallContext) {
    const sent = draws.reduce((sum, item) => sum + item.draw.cost_micro, 0);
    return this.exclusive(async () => {
      const answer = await this.billing.settleAllowance(
        this.identity,
        allowance.id,
        draws.map((item) => item.draw),
        release ? { unusedSlots: 0 } : null,
        call,
      );
      this.unsent -= sent;
      this.observe(answer);
      return answer;
    });
  }

  private async settleAll(call: CallContext): Promise<void> {
    for (let next = this.nextSettlement(); next; next = this.nextSettlement()) {
      const { allowance, draws, release } = next;
      for (const item of draws) {
        this.pending.splice(this.pending.indexOf(item), 1);
        this.sending.add(item.draw.id);
      }
      let settlement: AllowanceSettlement | undefined;
      let failure: unknown;
      for (const wait of [0, ...SETTLE_BACKOFF_MS]) {
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        try {
          settlement = await this.settleOnce(allowance, draws, release, call);
          break;
        } catch (error) {
          failure = error;
          // A refusal (the allowance unknown, a malformed draw) will not change on a retry.
          if (refusedForGood(error)) break;
        }
      }
      for (const item of draws) this.sending.delete(item.draw.id);
      if (!settlement) {
        const permanent = refusedForGood(failure);
        if (permanent) {
          // Nothing to retry: set the charges aside, with what a reconciliation needs.
          for (const item of draws) this.refused.add(item.draw.id);
          this.unsent -= draws.reduce((sum, item) => sum + item.draw.cost_micro, 0);
          this.closing.delete(allowance);
        } else {
          this.pending.unshift(...draws);
        }
        logEvent(
          "error",
          permanent
            ? "allowance settlement refused; charges set aside"
            : "allowance settlement failed; charges kept for the next one",
          {
            request_id: call.requestId,
            allowance: allowance.id,
            draws: draws.map((item) => ({ id: item.draw.id, cost_micro: item.draw.cost_micro })),
            error: failure,
          },
        );
        if (permanent) continue;
        return;
      }
      if (release) this.closing.delete(allowance);
      for (const outcome of settlement.draws) {
        if (outcome.shortfall_micro > 0)
          console.log(
            JSON.stringify({
              level: "warn",
              msg: "the balance did not cover the whole call",
              request_id: call.requestId,
              draw: outcome.id,
              shortfall: outcome.shortfall_micro,
            }),
          );
      }
    }
  }

  /**
   * Writes the charges recorded so far after `batchMs`, so that calls arriving meanwhile share one
   * ledger transaction; then, once the account has been idle for `idleMs`, releases its allowance.
   * Returns the work for the caller's `waitUntil`.
   */
  afterCall(call: CallContext, sleep: (ms: number) => Promise<void>): Promise<void> {
    if (!this.batch || this.now() - this.batch.since > STUCK_MS + this.settings.batchMs) {
      const batch = {
        since: this.now(),
        done: (this.settings.batchMs > 0 ? sleep(this.settings.batchMs) : Promise.resolve()).then(() => {
          if (this.batch === batch) this.batch = undefined;
          return this.flush(call);
        }),
      };
      this.batch = batch;
    }
    const flushed = this.batch.done;
    this.idleWatch ??= new IdleWatch(this.settings.idleMs, { now: this.now, sleep });
    const watching = this.idleWatch.touch(
      () => this.untilIdle(),
      () => this.release(call),
    );
    return watching ? Promise.all([flushed, watching]).then(() => {}) : flushed;
  }

  /** How long until the allowance counts as idle; a live call keeps it busy. */
  private untilIdle(): number {
    const allowance = this.current;
    if (!allowance) return 0;
    if (this.liveCalls(allowance) > 0) return Math.max(this.settings.idleMs, 100);
    return this.settings.idleMs - (this.now() - allowance.lastUsed);
  }

  /** Retires the idle allowance, writes what is pending and releases it; forgets an empty account. */
  private async release(call: CallContext): Promise<void> {
    if (this.current) this.retire(this.current);
    await this.flush(call);
    if (!this.current && this.closing.size === 0 && this.pending.length === 0) this.onEmpty();
  }
}
