import { parseCreditsPerUsd, ServiceError, usdPerMToMicroPerM } from "@cognomega/shared";

/** RAG settings read from the worker's vars. */
export interface RagSettings {
  /** Micro-credits per million embedding input tokens. */
  embeddingPricePerM: number;
  /** Most documents one tenant may keep. */
  quotaDocs: number;
  /** Most chunks one tenant may keep, over all of its documents. */
  quotaChunks: number;
}

/** Workers AI's list price: @cf/baai/bge-base-en-v1.5 costs $0.067 per million input tokens. */
export const DEFAULT_EMBEDDING_PRICE_PER_M_TOKENS = "0.067";

function integer(value: string | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max)
    throw new ServiceError("not_configured", `${name} must be an integer from ${min} to ${max}`);
  return parsed;
}

export function ragSettings(env: RagEnv): RagSettings {
  const creditsPerUsd = parseCreditsPerUsd(env.CREDITS_PER_USD);
  if (creditsPerUsd === undefined)
    throw new ServiceError("not_configured", "CREDITS_PER_USD must be an integer from 1 to 1000000");
  const price = env.EMBEDDING_PRICE_PER_M_TOKENS?.trim() || DEFAULT_EMBEDDING_PRICE_PER_M_TOKENS;
  const embeddingPricePerM = /^\d{1,6}(\.\d{1,6})?$/.test(price) ? usdPerMToMicroPerM(price, creditsPerUsd) : undefined;
  if (embeddingPricePerM === undefined)
    throw new ServiceError("not_configured", "EMBEDDING_PRICE_PER_M_TOKENS must be US dollars with at most 6 decimals");
  return {
    embeddingPricePerM,
    quotaDocs: integer(env.RAG_QUOTA_DOCS, 1000, "RAG_QUOTA_DOCS", 1, 1_000_000),
    quotaChunks: integer(env.RAG_QUOTA_CHUNKS, 20_000, "RAG_QUOTA_CHUNKS", 1, 100_000_000),
  };
}
