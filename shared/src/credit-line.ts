import { AccountCredits, type AllowanceLedger, type AllowanceSettings, SettlementFailure } from "./allowances";
import type { LimitState } from "./credits";
import { ServiceError } from "./errors";
import type { CallContext, Identity } from "./identity";
import type { AiUsage } from "./usage";

/** A call's hold, taken before its provider is contacted. */
export interface HeldCall {
  /** The balance as the hold was taken, as the line knows it (before this call's charge). */
  readonly balanceMicro: number;
  /** Frees the hold: the call failed and costs nothing. */
  void(): Promise<void>;
  /**
   * Charges the call's actual cost (micro-credits). Resolves to what is charged and the balance
   * after the charge.
   */
  settle(costMicro: number, usage: AiUsage): Promise<{ charged: number; balance: number }>;
}

/**
 * Where a metered call's holds come from. Requests are not counted here: the gateway counts each
 * one before it reaches a service, and jobs' asks are not requests.
 */
export interface CreditLine {
  /**
   * Holds `amount` micro-credits for a call charged as `chargeId` for at least `ttlSeconds`, or
   * resolves to null when the balance cannot cover it (429 over the daily budget). Several holds may
   * share a charge id (the candidates of one ask): at most one of them is charged.
   */
  hold(chargeId: string, amount: number, ttlSeconds: number): Promise<HeldCall | null>;
  /** The caller's daily credit budget as last seen, for the answer's headers. */
  dailyCredits(): LimitState["daily_credits"] | undefined;
  /** Resolves once every charge made through this line is in the ledger; 503 when it cannot be written. */
  settled(): Promise<void>;
}

/** What a line drawing on an account's allowance needs from its request. */
export interface AllowanceLineOptions {
  call: CallContext;
  waitUntil: (promise: Promise<unknown>) => void;
  sleep: (ms: number) => Promise<void>;
}

/**
 * A call's holds drawn from the account's allowance in this instance. Charges are written after the
 * answer (`waitUntil`); `settled()` waits for this line's. The account's state is looked up at the
 * first hold, so a call refused before it (bad input, no usable model) leaves nothing behind.
 */
export function allowanceLine(accountOf: () => AccountCredits, options: AllowanceLineOptions): CreditLine {
  let account: AccountCredits | undefined;
  const charged: string[] = [];
  return {
    async hold(chargeId, amount, ttlSeconds) {
      account ??= accountOf();
      const credits = account;
      const taken = await credits.take(amount, ttlSeconds, options.call);
      if (!taken) return null;
      let open = true;
      return {
        balanceMicro: credits.knownBalance(),
        async void() {
          if (!open) return;
          open = false;
          credits.giveBack(taken.allowance, taken.draw, amount);
          options.waitUntil(credits.afterCall(options.call, options.sleep));
        },
        async settle(costMicro: number, usage: AiUsage) {
          if (!open) throw new Error("this hold was already settled or voided");
          open = false;
          const balance = credits.charge(taken.allowance, taken.draw, amount, {
            id: chargeId,
            cost_micro: costMicro,
            request_id: options.call.requestId,
            at: Date.now(),
            usage,
          });
          charged.push(chargeId);
          options.waitUntil(credits.afterCall(options.call, options.sleep));
          return { charged: costMicro, balance };
        },
      };
    },
    dailyCredits: () => account?.dailyCredits(),
    async settled() {
      if (!account) return;
      try {
        await account.written(charged, options.call);
      } catch (error) {
        if (!(error instanceof SettlementFailure)) throw error;
        throw new ServiceError(
          "upstream_unavailable",
          "the answer is ready but its charge could not be recorded yet; retry with the same Idempotency-Key",
        );
      }
    },
  };
}

/** Every account's allowances in one isolate (each worker keeps its own, module-wide). */
export class CreditAllowances {
  private readonly accounts = new Map<string, AccountCredits>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The account's credits in this isolate, created on first use and forgotten once idle and empty. */
  account(billing: AllowanceLedger, identity: Identity, settings: AllowanceSettings): AccountCredits {
    let account = this.accounts.get(identity.sub);
    if (!account) {
      const created: AccountCredits = new AccountCredits(billing, identity, settings, this.now, () => {
        if (this.accounts.get(identity.sub) === created) this.accounts.delete(identity.sub);
      });
      this.accounts.set(identity.sub, created);
      account = created;
    }
    account.touch(identity);
    return account;
  }

  /** Accounts this isolate currently keeps. */
  get size(): number {
    return this.accounts.size;
  }

  /** Whether this isolate keeps anything for the account. */
  has(sub: string): boolean {
    return this.accounts.has(sub);
  }
}
