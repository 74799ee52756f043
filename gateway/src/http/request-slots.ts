import type { AllowanceGrant, CallContext, CreditsView, Identity, IdleWatchClock, LimitState } from "@cognomega/shared";
import { IdleWatch, isServiceError, logEvent } from "@cognomega/shared";

/**
 * Request slots: how the gateway counts every signed-in request without a ledger round trip each.
 *
 * The account's ledger grants this isolate some of the current minute's requests at once (an
 * allowance with slots and no credits: `BillingService.openAllowance`, at most half of what is
 * left and at most a sixteenth of the limit, so slots idle in one isolate never keep a user's
 * requests on others from most of the minute). Each request then takes one slot in memory, before
 * its route does anything with its input; when none is left, one ledger call grants more, or
 * answers 429. While the minute has plenty left, more are asked for in the background before they
 * run out. An account idle for `IDLE_MS` gives its unused slots back, so another isolate can use
 * them this minute.
 */

type Billing = Pick<GatewayEnv["BILLING"], "openAllowance" | "settleAllowance">;

const MINUTE_MS = 60_000;
/**
 * Slots one grant asks for; the ledger grants at most half of what is left and ceil(limit / 16),
 * so this only bounds accounts with limits over 4,096 a minute, whose busy isolates then make one
 * ledger call per 256 requests.
 */
const SLOTS_AHEAD = 256;
/** A lease lives this long past its last grant (slots are good for their minute only). */
const LEASE_TTL_SECONDS = 120;
/** Slots granted this recently are usable even if the ledger's minute just turned. */
const FRESH_GRANT_MS = 1_000;
/** An account without a request this long gives its unused slots back. */
const IDLE_MS = 2_000;
/**
 * The longest a returning account's first grant waits for its previous slots to be back in the
 * ledger: that give-back runs in another request's `waitUntil`, which may hang or be cut short.
 */
const GIVE_BACK_WAIT_MS = 250;

const realClock: IdleWatchClock = {
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** `promise`, or nothing once `ms` have passed, on a timer of the caller's own request. */
function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A request counted: the caller's limits after it, and the ledger's snapshot when it had one. */
export interface Admission {
  limits: LimitState;
  /**
   * The balance and holds from the grant this request made (not one it shared with a request
   * that came first: that grant may have been read before this request arrived).
   */
  credits?: CreditsView;
}

/** What one request needs to take a slot: the ledger, and a way to run work after the answer. */
export interface SlotRequest {
  billing: Billing;
  identity: Identity;
  call: CallContext;
  waitUntil: (promise: Promise<unknown>) => void;
}

/** One account's slots in this isolate. */
export class AccountSlots {
  private lease: string | undefined;
  private slots = 0;
  private window = 0;
  private grantedAt = 0;
  /** The ledger's clock minus this isolate's, as of the last grant. */
  private offset = 0;
  private limits: LimitState | undefined;
  private lastUsed = 0;
  private granting: Promise<AllowanceGrant> | undefined;
  /** The last grant was all that was asked for: the minute has plenty left. */
  private plenty = false;
  private readonly watch: IdleWatch;
  private readonly now: () => number;

  /**
   * @param onEmpty called once the account holds nothing, with the giving back of its unused slots
   *   when there were any
   * @param returning waits (a short while at most) for a previous lease's slots still on their
   *   way back to the ledger: the first grant waits for them, so the ledger counts them as free and
   *   the limits it reports are exact
   */
  constructor(
    private readonly onEmpty: (givingBack?: Promise<void>) => void,
    clock: IdleWatchClock = realClock,
    private returning?: () => Promise<void>,
  ) {
    this.now = clock.now;
    this.watch = new IdleWatch(IDLE_MS, clock);
  }

  private ledgerNow(): number {
    return this.now() + this.offset;
  }

  private hasSlot(): boolean {
    if (this.slots <= 0) return false;
    return this.now() - this.grantedAt < FRESH_GRANT_MS || this.window === Math.floor(this.ledgerNow() / MINUTE_MS);
  }

  /**
   * Counts one request: takes a slot, growing the lease by one ledger call when none is left (429
   * `rate_limited` there when the minute has none). Resolves to the caller's limits after it, and
   * the account's balance when this request's own grant read it.
   */
  async take(request: SlotRequest): Promise<Admission> {
    this.lastUsed = this.now();
    let credits: CreditsView | undefined;
    try {
      while (!this.hasSlot()) {
        // One grant at a time per account: requests arriving meanwhile share it.
        const shared = this.granting;
        const granted = await (shared ?? this.startGrant(request));
        credits = shared ? undefined : granted.credits;
      }
    } catch (error) {
      if (this.lease === undefined && !this.watch.running && this.granting === undefined) this.onEmpty();
      throw error;
    }
    this.slots -= 1;
    this.lastUsed = this.now();
    if (this.plenty && this.slots < SLOTS_AHEAD / 4 && this.granting === undefined) {
      // Asked for before they run out, so a busy account's requests never wait for a grant.
      request.waitUntil(this.startGrant(request).catch(() => {}));
    }
    const watching = this.watch.touch(
      // A grant under way is a request in progress: not idle yet.
      () => (this.granting ? 10 : IDLE_MS - (this.now() - this.lastUsed)),
      () => this.release(request),
    );
    if (watching) request.waitUntil(watching);
    return { limits: this.view(), credits };
  }

  /** The caller's limits, counting the slots this isolate holds for them as still available. */
  view(): LimitState {
    const limits = this.limits as LimitState;
    const now = this.ledgerNow();
    const window = Math.floor(now / MINUTE_MS);
    const held = this.window === window || this.now() - this.grantedAt < FRESH_GRANT_MS ? this.slots : 0;
    return {
      rpm: {
        limit: limits.rpm.limit,
        remaining: Math.min(limits.rpm.limit, limits.rpm.remaining + held),
        reset_seconds: Math.ceil(((window + 1) * MINUTE_MS - now) / 1000),
      },
      daily_credits: limits.daily_credits,
    };
  }

  /** Limits from a ledger answer newer than the last grant; the view after them. */
  note(fresh: Partial<LimitState>): LimitState | undefined {
    if (!this.limits) return undefined;
    this.limits = { ...this.limits, ...fresh };
    return this.view();
  }

  private startGrant(request: SlotRequest): Promise<AllowanceGrant> {
    this.granting = this.grant(request).finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  private async grant({ billing, identity, call }: SlotRequest): Promise<AllowanceGrant> {
    if (this.returning) {
      const returning = this.returning;
      this.returning = undefined;
      await returning();
    }
    const open = (id: string) =>
      billing.openAllowance(
        identity,
        { id, min_micro: 0, want_micro: 0, want_slots: SLOTS_AHEAD, ttl_seconds: LEASE_TTL_SECONDS },
        call,
      );
    let grant: AllowanceGrant;
    try {
      grant = await open(this.lease ?? crypto.randomUUID());
    } catch (error) {
      // The ledger closed the lease already (it expired while this isolate slept): open another.
      if (!(isServiceError(error) && error.code === "conflict")) throw error;
      grant = await open(crypto.randomUUID());
    }
    this.lease = grant.id;
    this.offset = grant.now - this.now();
    this.limits = grant.limits;
    this.slots = grant.window === this.window ? this.slots + grant.granted_slots : grant.granted_slots;
    this.window = grant.window;
    this.grantedAt = this.now();
    this.plenty = grant.granted_slots >= SLOTS_AHEAD;
    return grant;
  }

  /** Gives the unused slots back and forgets the account. */
  private async release(request: SlotRequest): Promise<void> {
    const lease = this.lease;
    const unused = this.hasSlot() ? this.slots : 0;
    // Forgotten before the ledger call: a request arriving meanwhile starts a fresh lease (once
    // these slots are back) and never takes a slot that is being given back.
    this.lease = undefined;
    this.slots = 0;
    const givingBack = lease === undefined ? undefined : this.giveBack(request, lease, unused);
    this.onEmpty(givingBack);
    await givingBack;
  }

  private async giveBack(request: SlotRequest, lease: string, unused: number): Promise<void> {
    try {
      await request.billing.settleAllowance(request.identity, lease, [], { unusedSlots: unused }, request.call);
    } catch (error) {
      // The ledger expires the lease by itself; its unused slots lapse at the end of the minute.
      logEvent("warn", "request slots not given back", { request_id: request.call.requestId, error });
    }
  }
}

/** Every signed-in account's request slots in this isolate. */
export class RequestSlots {
  private readonly accounts = new Map<string, AccountSlots>();
  /** Accounts whose unused slots are on their way back to the ledger (for GIVE_BACK_WAIT_MS at most). */
  private readonly returning = new Map<string, Promise<void>>();

  constructor(
    private readonly clock: IdleWatchClock = realClock,
    private readonly giveBackWaitMs = GIVE_BACK_WAIT_MS,
  ) {}

  /** The account's slots, created on first use and forgotten once given back. */
  account(sub: string): AccountSlots {
    let account = this.accounts.get(sub);
    if (!account) {
      const returning = this.returning.get(sub);
      const created: AccountSlots = new AccountSlots(
        (givingBack) => {
          if (this.accounts.get(sub) !== created) return;
          this.accounts.delete(sub);
          if (!givingBack) return;
          this.returning.set(sub, givingBack);
          // Forgotten once back, or once no grant would wait for it any longer, even if it hangs.
          void within(givingBack, this.giveBackWaitMs).then(() => {
            if (this.returning.get(sub) === givingBack) this.returning.delete(sub);
          });
        },
        this.clock,
        returning && (() => within(returning, this.giveBackWaitMs)),
      );
      this.accounts.set(sub, created);
      account = created;
    }
    return account;
  }

  /** Newer limits for an account this isolate keeps slots for (never creates one). */
  note(sub: string, fresh: Partial<LimitState>): LimitState | undefined {
    return this.accounts.get(sub)?.note(fresh);
  }

  /** Accounts this isolate keeps slots for. */
  get size(): number {
    return this.accounts.size;
  }

  /** Accounts whose unused slots are still on their way back. */
  get givingBack(): number {
    return this.returning.size;
  }
}
