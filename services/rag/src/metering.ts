import { type CallContext, type Identity, logEvent, tokenCost } from "@cognomega/shared";
import { EMBEDDING_BATCH, EMBEDDING_MODEL, embeddingTokenBound, embeddingTokensCharged } from "./vectors";

/**
 * One embedding operation's charge, held in the tenant's ledger before the AI binding is called
 * (like an ask): the hold covers every text at its token bound, the settle charges what was
 * embedded at `embeddingTokensCharged` (the model reports no usage), and a call that embedded nothing
 * releases it. Its id is new for every operation, so a charge can never be taken for another's.
 */
export class EmbeddingCharge {
  private open = true;

  private constructor(
    private readonly billing: RagEnv["BILLING"],
    private readonly identity: Identity,
    private readonly call: CallContext,
    private readonly pricePerM: number,
    readonly holdId: string,
    readonly heldMicro: number,
  ) {}

  /**
   * Holds the worst case of embedding `texts`. Throws `insufficient_credits` (402) or the daily
   * budget's `rate_limited` (429) from the ledger, before anything is embedded.
   */
  static async hold(
    billing: RagEnv["BILLING"],
    identity: Identity,
    texts: string[],
    pricePerM: number,
    call: CallContext,
  ): Promise<EmbeddingCharge> {
    let bound = 0;
    for (const text of texts) bound += embeddingTokenBound(text);
    // Even a free price takes a hold of one micro-credit: every embedding is tracked the same way.
    const amount = Math.max(1, tokenCost(bound, pricePerM));
    const holdId = `embed:${crypto.randomUUID()}`;
    // Long enough for every batch to run; a settle after expiry is still charged by the ledger.
    const ttlSeconds = Math.min(3600, 120 + 10 * Math.ceil(texts.length / EMBEDDING_BATCH));
    await billing.reserve(identity, holdId, amount, ttlSeconds, call);
    return new EmbeddingCharge(billing, identity, call, pricePerM, holdId, amount);
  }

  /** Charges the texts that were embedded (the first `texts.length` held), or releases the hold if none were. */
  async settle(texts: string[]): Promise<{ charged_micro: number; tokens: number }> {
    if (texts.length === 0) {
      await this.void();
      return { charged_micro: 0, tokens: 0 };
    }
    if (!this.open) throw new Error("this embedding charge was already settled or voided");
    this.open = false;
    let tokens = 0;
    for (const text of texts) tokens += embeddingTokensCharged(text);
    const settled = await this.billing.settle(
      this.identity,
      this.holdId,
      tokenCost(tokens, this.pricePerM),
      this.call,
      {
        tokens_in: tokens,
        tokens_out: 0,
        provider: "workers-ai",
        model: EMBEDDING_MODEL,
        estimated: true,
        source: "rag",
      },
    );
    return { charged_micro: settled.charged_micro, tokens };
  }

  /** Releases the hold: nothing was embedded. A failed release only leaves the hold to expire. */
  async void(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    try {
      await this.billing.void(this.identity, this.holdId, this.call);
    } catch (error) {
      logEvent("warn", "embedding hold not released; it expires", { request_id: this.call.requestId, error });
    }
  }
}
