import {
  type AiUsage,
  type CallContext,
  type Identity,
  isServiceError,
  type LimitState,
  ServiceError,
} from "@cognomega/shared";
import { type AccountCredits, SettlementFailure } from "./allowances";

/** A call's hold, taken before its provider is contacted. */
export interface HeldCall {
  /** Frees the hold: the call failed and costs nothing. */
  void(): Promise<void>;
  /**
   * Charges the call's actual cost (micro-credits). Resolves to what is charged and the balance
   * after the charge.
   */
  settle(costMicro: number, usage: AiUsage): Promise<{ charged: number; balance: number }>;
}

/**
 * Where an ask's holds come from. Requests are not counted here: the gateway counts each one
 * before it reaches SI, and jobs' asks are not requests.
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

function log(level: string, msg: string, call: CallContext, extra: Record<string, unknown>): void {
  console.log(JSON.stringify({ level, msg, request_id: call.requestId, ...extra }));
}

/**
 * One ledger hold per call, reserved and settled by RPC while the caller waits: for streams, whose
 * holds must outlive a long answer (an allowance would keep that much reserved for that long).
 */
export function perCallHolds(billing: SiEnv["BILLING"], identity: Identity, call: CallContext): CreditLine {
  return {
    async hold(chargeId, amount, ttlSeconds) {
      // A ledger hold is used once (a voided one cannot be taken again), but the charge is the ask's.
      const holdId = `${chargeId}:${crypto.randomUUID()}`;
      try {
        await billing.reserve(identity, holdId, amount, ttlSeconds, call);
      } catch (error) {
        if (isServiceError(error) && error.code === "insufficient_credits") return null;
        throw error;
      }
      return {
        async void() {
          try {
            await billing.void(identity, holdId, call);
          } catch (error) {
            // The hold expires by itself; a failed void costs the caller nothing.
            log("warn", "void failed", call, { hold: holdId, error: String(error) });
          }
        },
        async settle(costMicro, usage) {
          const settled = await billing.settle(identity, holdId, costMicro, call, usage, chargeId);
          if (settled.shortfall_micro > 0) {
            log("warn", "the balance did not cover the whole call", call, {
              model: usage.model,
              cost: costMicro,
              shortfall: settled.shortfall_micro,
            });
          }
          return { charged: settled.charged_micro, balance: settled.balance_micro };
        },
      };
    },
    dailyCredits: () => undefined,
    settled: async () => {},
  };
}

/** What a line drawing on an account's allowance needs from its request. */
export interface AllowanceLineOptions {
  call: CallContext;
  waitUntil: (promise: Promise<unknown>) => void;
  sleep: (ms: number) => Promise<void>;
}

/**
 * An ask's holds drawn from the account's allowance in this instance. Charges are written after the
 * answer (`waitUntil`); `settled()` waits for this ask's. The account's state is looked up at the
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
