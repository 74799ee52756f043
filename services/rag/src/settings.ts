import { CREDITS_PER_USD, declareSettings, FLAGS_CACHE_TTL_SECONDS, setting } from "@cognomega/shared";

/** The RAG worker's settings (docs/configuration.md is generated from this declaration). */
export const RAG_SETTINGS = declareSettings("rag", {
  EMBEDDING_PRICE_PER_M_TOKENS: setting.decimal({
    // PROVIDERS.md §1: @cf/baai/bge-base-en-v1.5 costs $0.067 per million input tokens.
    default: "0.067",
    places: 6,
    max: 999_999,
    unit: "USD",
    meaning: "US dollars per million input tokens of the embedding model, charged to the tenant.",
  }),
  CREDITS_PER_USD,
  RAG_QUOTA_DOCS: setting.integer({
    default: 1_000,
    min: 1,
    max: 1_000_000,
    meaning: "Most documents one tenant may keep.",
  }),
  RAG_QUOTA_CHUNKS: setting.integer({
    default: 20_000,
    min: 1,
    max: 100_000_000,
    meaning: "Most chunks one tenant may keep, over all of its documents.",
  }),
  FLAGS_CACHE_TTL_SECONDS,
});
