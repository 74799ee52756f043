import {
  type AiUsage,
  type AllowanceDraw,
  type AllowanceGrant,
  type AllowanceSettlement,
  type CallContext,
  type Identity,
  isServiceError,
  type LimitState,
} from "@cognomega/shared";
import type { CreditLine, HeldCall } from "./credit-line";

/**
 * Credit allowances: how an ask is admitted and held without a ledger round trip.
 *
 * An SI instance asks the account's ledger, in one transaction, for request slots of the current
 * minute and for credits reserved to it (an allowance). Calls then take their slot and their
 * worst-case hold from the allowance in memory: JavaScript runs one task at a time per isolate, so
 * two calls can never take the same credits, and the ledger never lets allowances and holds
 * together exceed the balance. A call's actual cost is charged after the answer goes out, as its
 * own ledger entry (idempotent per call), in batches. What an allowance holds is freed when it has
 * been idle for `idleMs`, and by the ledger when it expires if this instance is gone.
 *
 * What this trades: an answer no longer waits for the ledger; `balance` in it is the balance after
 * its charge as this instance knows it (exact unless other instances spend concurrently); and, as
 * before, an instance that dies between answering and settling loses that charge for the platform
 * (a window of about one round trip) — never the caller's money.
 */

/** How allowances are sized and kept. */
export interface AllowanceSettings {
  /** Credits an allowance asks for (the ledger grants at most half of what is free). */
  targetMicro: number;
  /** Request slots an allowance asks for in one minute. */
  slotsAhead: number;
  /** An allowance unused this long is released; 0 releases it after every burst of calls. */
  idleMs: number;
  /** Charges are written this long after a call, together with those of calls made meanwhile. */
  batchMs: number;
  /** The longest a call's hold must live: an allowance is drawn on only while it has this left. */
  callTtlSeconds: number;
}

type Billing = Pick<Env["BILLING"], "openAllowance" | "settleAllowance">;

const MINUTE_MS = 60_000;
/** How long an allowance lives beyond the calls drawn on it: it is renewed about this often. */
const ALLOWANCE_SPAN_SECONDS = 60;
const MAX_DRAWS_PER_SETTLEMENT = 256;
const SETTLE_ATTEMPTS = 3;
const QUEUE_TURN_MAX_MS = 10_000;
/** A call starts a new idle watch when the running one is older than this. */
const IDLE_WATCH_RENEW_MS = 5_000;
/** An idle watch lasts the idle period plus this long (more than the renewal age, less than waitUntil's limit). */
const IDLE_WATCH_SPAN_MS = 10_000;
/** An allowance this close to its expiry is replaced rather than renewed. */
const RENEW_MARGIN_MS = 5_000;

interface Allowance {
  id: string;
  /** Credits granted and not drawn. */
  spendable: number;
  /** Request slots of `window` not taken. */
  slots: number;
  window: number;
  expiresAt: number;
  /** Calls holding credits from it and not yet settled or voided. */
  outstanding: number;
  lastUsed: number;
  closing: boolean;
}

interface PendingDraw {
  allowance: Allowance;
  draw: AllowanceDraw;
}

/** One account's allowances in this isolate. */
class AccountCredits {
  private current: Allowance | undefined;
  private readonly closing = new Set<Allowance>();
  private readonly pending: PendingDraw[] = [];
  /** Ledger calls for the account run one at a time: each answer then covers every earlier charge. */
  private queue: Promise<unknown> = Promise.resolve();
  private flushing: Promise<void> | undefined;
  private batch: Promise<void> | undefined;
  /** When the running idle watch started, if one runs. */
  private idleWatch: number | undefined;
  /** The balance as of the newest ledger answer, and charges made here it does not include yet. */
  private balance = 0;
  private seq = -1;
  private unsent = 0;
  private lastLimits: LimitState | undefined;

  constructor(
    private readonly billing: Billing,
    private identity: Identity,
    private readonly settings: AllowanceSettings,
    private readonly now: () => number,
  ) {}

  /** The latest identity object seen for the account (the same `sub`). */
  touch(identity: Identity): void {
    this.identity = identity;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    // A turn that never ends (its request was cancelled mid-call) must not stall the account: after
    // a while the next turn goes ahead; the ledger still applies both in some order.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const turn = Promise.race([
      this.queue,
      new Promise((resolve) => {
        timer = setTimeout(resolve, QUEUE_TURN_MAX_MS);
      }),
    ]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
    const run = turn.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private observe(state: AllowanceGrant | AllowanceSettlement): void {
    if (state.entry_seq >= this.seq) {
      this.seq = state.entry_seq;
      this.balance = state.balance_micro;
    }
    this.lastLimits = state.limits;
  }

  /** The caller's limits, counting the slots this instance holds for them as still available. */
  limits(): LimitState | undefined {
    const limits = this.lastLimits;
    if (!limits) return undefined;
    const now = this.now();
    const window = Math.floor(now / MINUTE_MS);
    const held = this.current && this.current.window === window ? this.current.slots : 0;
    return {
      rpm: {
        limit: limits.rpm.limit,
        remaining: Math.min(limits.rpm.limit, limits.rpm.remaining + held),
        reset_seconds: Math.ceil(((window + 1) * MINUTE_MS - now) / 1000),
      },
      daily_credits: limits.daily_credits,
    };
  }

  private usable(allowance: Allowance | undefined, amount: number, slot: boolean, ttlSeconds: number) {
    if (!allowance || allowance.closing) return false;
    const now = this.now();
    if (allowance.expiresAt - now < ttlSeconds * 1000) return false;
    if (allowance.spendable < amount) return false;
    return !slot || (allowance.slots > 0 && allowance.window === Math.floor(now / MINUTE_MS));
  }

  /**
   * Takes `amount` (and a request slot when `slot`) from the allowance, growing or replacing it
   * by one ledger call when it falls short. Null when the balance cannot cover `amount`.
   */
  async take(amount: number, slot: boolean, ttlSeconds: number, call: CallContext): Promise<Allowance | null> {
    for (;;) {
      const allowance = this.current;
      if (allowance && this.usable(allowance, amount, slot, ttlSeconds)) {
        allowance.spendable -= amount;
        if (slot) allowance.slots -= 1;
        allowance.outstanding += 1;
        allowance.lastUsed = this.now();
        return allowance;
      }
      if (!(await this.grow(amount, slot, ttlSeconds, call))) return null;
    }
  }

  private grow(amount: number, slot: boolean, ttlSeconds: number, call: CallContext): Promise<boolean> {
    return this.exclusive(async () => {
      // Another call may have grown it while this one waited its turn.
      if (this.usable(this.current, amount, slot, ttlSeconds)) return true;
      const now = this.now();
      let target = this.current;
      if (target && (target.closing || target.expiresAt - now < RENEW_MARGIN_MS)) {
        // At (or past) its end: the ledger may already have expired it. Let it drain; open another.
        this.retire(target);
        target = undefined;
      }
      const spendable = target?.spendable ?? 0;
      const minMicro = Math.max(0, amount - spendable);
      const window = Math.floor(now / MINUTE_MS);
      const needSlot = slot && !(target && target.window === window && target.slots > 0);
      let grant: AllowanceGrant;
      try {
        grant = await this.billing.openAllowance(
          this.identity,
          {
            id: target?.id ?? crypto.randomUUID(),
            min_micro: minMicro,
            want_micro: Math.max(minMicro, this.settings.targetMicro - spendable),
            want_slots: needSlot ? this.settings.slotsAhead : 0,
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
        slots: 0,
        window: grant.window,
        expiresAt: grant.expires_at,
        outstanding: 0,
        lastUsed: now,
        closing: false,
      };
      allowance.spendable += grant.granted_micro;
      allowance.slots = allowance.window === grant.window ? allowance.slots + grant.granted_slots : grant.granted_slots;
      allowance.window = grant.window;
      allowance.expiresAt = grant.expires_at;
      this.current = allowance;
      return true;
    });
  }

  private retire(allowance: Allowance): void {
    allowance.closing = true;
    if (this.current === allowance) this.current = undefined;
    this.closing.add(allowance);
  }

  /** Takes one request slot (429 when the minute has none left), holding no credits. */
  async admit(call: CallContext): Promise<void> {
    const allowance = await this.take(0, true, 0, call);
    if (allowance) this.giveBack(allowance, 0);
  }

  /** Gives an unused hold back. */
  giveBack(allowance: Allowance, amount: number): void {
    allowance.spendable += amount;
    allowance.outstanding -= 1;
  }

  /**
   * Records a finished call's cost against its allowance; the ledger entry is written by the next
   * settlement. Returns the balance after the charge, as this instance knows it.
   */
  charge(allowance: Allowance, held: number, draw: AllowanceDraw): number {
    allowance.outstanding -= 1;
    const cost = draw.cost_micro;
    // The ledger takes the cost from the allowance first: mirror it, so spendable never overstates.
    allowance.spendable =
      cost <= held ? allowance.spendable + held - cost : Math.max(0, allowance.spendable - (cost - held));
    this.pending.push({ allowance, draw });
    this.unsent += cost;
    return Math.max(0, this.balance - this.unsent);
  }

  /** Writes every charge recorded so far (and releases retired allowances); resolves when done. */
  flush(call: CallContext): Promise<void> {
    this.flushing ??= this.settleAll(call).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private nextSettlement(): { allowance: Allowance; draws: PendingDraw[]; release: boolean } | undefined {
    const first = this.pending[0];
    const allowance =
      first?.allowance ?? [...this.closing].find((candidate) => candidate.outstanding === 0 && candidate.closing);
    if (!allowance) return undefined;
    const draws = this.pending.filter((p) => p.allowance === allowance).slice(0, MAX_DRAWS_PER_SETTLEMENT);
    const rest = this.pending.filter((p) => p.allowance === allowance).length - draws.length;
    return { allowance, draws, release: allowance.closing && allowance.outstanding === 0 && rest === 0 };
  }

  private async settleAll(call: CallContext): Promise<void> {
    for (let next = this.nextSettlement(); next; next = this.nextSettlement()) {
      const { allowance, draws, release } = next;
      for (const item of draws) this.pending.splice(this.pending.indexOf(item), 1);
      const sent = draws.reduce((sum, item) => sum + item.draw.cost_micro, 0);
      let settlement: AllowanceSettlement | undefined;
      let failure: unknown;
      for (let attempt = 0; attempt < SETTLE_ATTEMPTS && !settlement; attempt++) {
        try {
          settlement = await this.exclusive(async () => {
            const answer = await this.billing.settleAllowance(
              this.identity,
              allowance.id,
              draws.map((item) => item.draw),
              release ? { unusedSlots: allowance.slots } : null,
              call,
            );
            this.unsent -= sent;
            this.observe(answer);
            return answer;
          });
        } catch (error) {
          failure = error;
          await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
        }
      }
      if (!settlement) {
        // Keep the charges for the next settlement rather than lose them; say so loudly.
        this.pending.unshift(...draws);
        console.log(
          JSON.stringify({
            level: "error",
            msg: "allowance settlement failed; charges kept for the next one",
            request_id: call.requestId,
            allowance: allowance.id,
            draws: draws.length,
            error: String(failure),
          }),
        );
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
    this.batch ??= (this.settings.batchMs > 0 ? sleep(this.settings.batchMs) : Promise.resolve()).then(() => {
      this.batch = undefined;
      return this.flush(call);
    });
    const flushed = this.batch;
    // One idle watch per account at a time, kept alive by the request that started it. A call
    // starts a fresh one when the running one is older than IDLE_WATCH_RENEW_MS, so one always
    // lives past the last call's idle period, and none outlives its request's waitUntil.
    const now = this.now();
    if (this.idleWatch === undefined || now - this.idleWatch > IDLE_WATCH_RENEW_MS) {
      const watch = now;
      this.idleWatch = watch;
      return Promise.all([flushed, this.watchIdle(watch, call, sleep)]).then(() => {});
    }
    return flushed;
  }

  private async watchIdle(watch: number, call: CallContext, sleep: (ms: number) => Promise<void>): Promise<void> {
    for (;;) {
      const allowance = this.current;
      const quietFor = allowance ? this.now() - allowance.lastUsed : 0;
      if (allowance && (quietFor < this.settings.idleMs || allowance.outstanding > 0)) {
        // Past its span a newer call's watch has taken over (see afterCall).
        if (this.now() - watch > this.settings.idleMs + IDLE_WATCH_SPAN_MS) return;
        const wait = allowance.outstanding > 0 ? Math.max(this.settings.idleMs, 100) : this.settings.idleMs - quietFor;
        await sleep(Math.max(1, wait));
        if (this.idleWatch !== watch) return;
        continue;
      }
      if (this.idleWatch === watch) this.idleWatch = undefined;
      if (allowance) this.retire(allowance);
      await this.flush(call);
      return;
    }
  }
}

/** Every account's allowances in this isolate. */
export class CreditAllowances {
  private readonly accounts = new Map<string, AccountCredits>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The account's credits in this isolate, created on first use. */
  account(billing: Billing, identity: Identity, settings: AllowanceSettings): AccountCredits {
    let account = this.accounts.get(identity.sub);
    if (!account) {
      account = new AccountCredits(billing, identity, settings, this.now);
      this.accounts.set(identity.sub, account);
    }
    account.touch(identity);
    return account;
  }
}

export type { AccountCredits };

/**
 * An ask's holds drawn from the account's allowance. With `countRequest`, the ask's first hold also
 * takes its request slot. Charges are written after the answer (`waitUntil`), unless the caller
 * awaits `settled()`.
 */
export function allowanceLine(
  account: AccountCredits,
  options: {
    countRequest: boolean;
    call: CallContext;
    waitUntil: (promise: Promise<unknown>) => void;
    sleep: (ms: number) => Promise<void>;
  },
): CreditLine {
  let slotTaken = !options.countRequest;
  return {
    async hold(holdId, amount, ttlSeconds) {
      const allowance = await account.take(amount, !slotTaken, ttlSeconds, options.call);
      if (!allowance) return null;
      slotTaken = true;
      let open = true;
      const held: HeldCall = {
        async void() {
          if (!open) return;
          open = false;
          account.giveBack(allowance, amount);
          options.waitUntil(account.afterCall(options.call, options.sleep));
        },
        async settle(costMicro: number, usage: AiUsage) {
          open = false;
          const balance = account.charge(allowance, amount, {
            id: holdId,
            cost_micro: costMicro,
            request_id: options.call.requestId,
            at: Date.now(),
            usage,
          });
          options.waitUntil(account.afterCall(options.call, options.sleep));
          return { charged: costMicro, balance };
        },
      };
      return held;
    },
    limits: () => account.limits(),
    settled: () => account.flush(options.call),
  };
}
