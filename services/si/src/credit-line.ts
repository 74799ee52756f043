import {
  type CallContext,
  CreditAllowances,
  type CreditLine,
  type Identity,
  isServiceError,
  logEvent,
} from "@cognomega/shared";

/**
 * One ledger hold per call, reserved and settled by RPC while the caller waits: for streams, whose
 * holds must outlive a long answer (an allowance would keep that much reserved for that long).
 */
export function perCallHolds(billing: SiEnv["BILLING"], identity: Identity, call: CallContext): CreditLine {
  return {
    async hold(chargeId, amount, ttlSeconds) {
      // A ledger hold is used once (a voided one cannot be taken again), but the charge is the ask's.
      const holdId = `${chargeId}:${crypto.randomUUID()}`;
      let held: { balance_micro: number };
      try {
        held = await billing.reserve(identity, holdId, amount, ttlSeconds, call);
      } catch (error) {
        if (isServiceError(error) && error.code === "insufficient_credits") return null;
        throw error;
      }
      return {
        balanceMicro: held.balance_micro,
        async void() {
          try {
            await billing.void(identity, holdId, call);
          } catch (error) {
            // The hold expires by itself; a failed void costs the caller nothing.
            logEvent("warn", "void failed", { request_id: call.requestId, hold: holdId, error });
          }
        },
        async settle(costMicro, usage) {
          const settled = await billing.settle(identity, holdId, costMicro, call, usage, chargeId);
          if (settled.shortfall_micro > 0) {
            logEvent("warn", "the balance did not cover the whole call", {
              request_id: call.requestId,
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

/** Every account's allowances in this isolate, as SiService uses them. */
export const isolateAllowances = new CreditAllowances();

/** For tests only (production code never reads it): what this isolate keeps, per account. */
export const allowancesForTests = {
  size: () => isolateAllowances.size,
  keeps: (sub: string) => isolateAllowances.has(sub),
};
