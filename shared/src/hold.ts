import type { CallContext, Identity } from "./identity";
import type { AiUsage } from "./usage";

/** The part of BillingService a metered call needs (structural, so no worker imports another). */
export interface HoldingLedger {
  reserve(
    identity: Identity,
    holdId: string,
    maxMicro: number,
    ttlSeconds: number,
    call: CallContext,
  ): Promise<{ amount_micro: number; balance_micro: number }>;
  settle(
    identity: Identity,
    holdId: string,
    actualMicro: number,
    call: CallContext,
    usage?: AiUsage,
    chargeId?: string,
  ): Promise<{ balance_micro: number; charged_micro: number; shortfall_micro: number }>;
  void(identity: Identity, holdId: string, call: CallContext): Promise<unknown>;
}

/**
 * One call's credit hold in the tenant's ledger: taken before any provider is called (402 when
 * short, 429 over the daily budget), then settled once at the actual cost or voided. Settling or
 * voiding twice is refused locally, so a call can never be charged twice through one hold.
 */
export class LedgerHold {
  private open = true;

  private constructor(
    private readonly ledger: HoldingLedger,
    private readonly identity: Identity,
    private readonly call: CallContext,
    readonly holdId: string,
    readonly heldMicro: number,
    /** The balance as the hold was taken. */
    readonly balanceMicro: number,
  ) {}

  /** Holds `amountMicro` (at least one micro-credit) for at most `ttlSeconds` under `holdId`. */
  static async take(
    ledger: HoldingLedger,
    identity: Identity,
    call: CallContext,
    holdId: string,
    amountMicro: number,
    ttlSeconds: number,
  ): Promise<LedgerHold> {
    const amount = Math.max(1, amountMicro);
    const held = await ledger.reserve(identity, holdId, amount, ttlSeconds, call);
    return new LedgerHold(ledger, identity, call, holdId, held.amount_micro, held.balance_micro);
  }

  /** True until settled or voided. */
  get pending(): boolean {
    return this.open;
  }

  /**
   * Charges `actualMicro` and releases the rest, writing `usage` as the call's usage event. With
   * `chargeId`, the charge is named by it: a second hold settled under a charge already made is
   * released without charging again.
   */
  async settle(
    actualMicro: number,
    usage: AiUsage,
    chargeId?: string,
  ): Promise<{ charged_micro: number; balance_micro: number }> {
    if (!this.open) throw new Error(`hold ${this.holdId} was already settled or voided`);
    this.open = false;
    const settled = await this.ledger.settle(this.identity, this.holdId, actualMicro, this.call, usage, chargeId);
    return { charged_micro: settled.charged_micro, balance_micro: settled.balance_micro };
  }

  /** Releases the hold: nothing is charged. A failed release only leaves the hold to expire. */
  async void(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    try {
      await this.ledger.void(this.identity, this.holdId, this.call);
    } catch (error) {
      console.log(
        JSON.stringify({
          level: "warn",
          msg: "hold not released; it expires",
          hold_id: this.holdId,
          request_id: this.call.requestId,
          error: String(error),
        }),
      );
    }
  }
}
