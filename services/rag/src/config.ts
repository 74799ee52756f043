import { ServiceError, usdPerMToMicroPerM } from "@cognomega/shared";
import { RAG_SETTINGS } from "./settings";

/** RAG settings read from the worker's vars. */
export interface RagSettings {
  /** Micro-credits per million embedding input tokens. */
  embeddingPricePerM: number;
  /** Most documents one tenant may keep. */
  quotaDocs: number;
  /** Most chunks one tenant may keep, over all of its documents. */
  quotaChunks: number;
}

/** The settings, prices in micro-credits; a bad value is `not_configured`. */
export function ragSettings(env: RagEnv): RagSettings {
  const settings = RAG_SETTINGS.read(env);
  const embeddingPricePerM = usdPerMToMicroPerM(settings.EMBEDDING_PRICE_PER_M_TOKENS, settings.CREDITS_PER_USD);
  if (embeddingPricePerM === undefined)
    throw new ServiceError("not_configured", "EMBEDDING_PRICE_PER_M_TOKENS is too large at this CREDITS_PER_USD");
  return { embeddingPricePerM, quotaDocs: settings.RAG_QUOTA_DOCS, quotaChunks: settings.RAG_QUOTA_CHUNKS };
}
