import { type AiUsage, type CallContext, type Identity, isServiceError, type LimitState } from "@cognomega/shared";

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

/** Where an ask's holds come from. */
export interface CreditLine {
  /**
   * Holds `amount` micro-credits for the call `holdId` for at least `ttlSeconds`, or resolves to
   * null when the balance cannot cover it. The first hold of a counted request also takes its
   * per-minute request slot (429 when none is left).
   */
  hold(holdId: string, amount: number, ttlSeconds: number): Promise<HeldCall | null>;
  /** The caller's limits as last seen, for the answer's headers. */
  limits(): LimitState | undefined;
  /** Resolves once every charge made through this line is written to the ledger. */
  settled(): Promise<void>;
}

function log(level: string, msg: string, call: CallContext, extra: Record<string, unknown>): void {
  console.log(JSON.stringify({ level, msg, request_id: call.requestId, ...extra }));
}

/**
 * One ledger hold per call, reserved and settled by RPC while the caller waits: for streams, whose
 * holds must outlive a long answer (an allowance would keep that much reserved for that long).
 */
export function perCallHolds(billing: Env["BILLING"], identity: Identity, call: CallContext): CreditLine {
  return {
    async hold(holdId, amount, ttlSeconds) {
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
          const settled = await billing.settle(identity, holdId, costMicro, call, usage);
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
    limits: () => undefined,
    settled: async () => {},
  };
}
