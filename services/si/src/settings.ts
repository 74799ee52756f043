import {
  CREDITS_PER_USD,
  declareSettings,
  FLAGS_CACHE_TTL_SECONDS,
  ROUTING_POLICIES,
  setting,
} from "@cognomega/shared";

/** The SI worker's settings (docs/configuration.md is generated from this declaration). */
export const SI_SETTINGS = declareSettings("si", {
  CREDITS_PER_USD,
  GROQ_API_KEY: setting.text({ secret: true, meaning: "Groq's API key; without it Groq's models are skipped." }),
  GROQ_BASE_URL: setting.url({
    default: "https://api.groq.com/openai/v1",
    meaning: "Groq's OpenAI-compatible API (any OpenAI-compatible server works).",
  }),
  OPENAI_API_KEY: setting.text({ secret: true, meaning: "OpenAI's API key; without it OpenAI's models are skipped." }),
  OPENAI_BASE_URL: setting.url({ default: "https://api.openai.com/v1", meaning: "OpenAI's API." }),
  SI_DEFAULT_POLICY: setting.oneOf(ROUTING_POLICIES, {
    default: "balanced",
    meaning: "How an ask that names no model or policy picks one.",
  }),
  SI_DEFAULT_MAX_TOKENS: setting.integer({
    default: 512,
    min: 1,
    max: 16_384,
    unit: "tokens",
    meaning: "Output tokens an ask may produce when it does not say.",
  }),
  SI_LATENCY_BUDGET_MS: setting.integer({
    default: 30_000,
    min: 100,
    max: 300_000,
    unit: "ms",
    meaning: "Total time an ask may spend across attempts (fallbacks included).",
  }),
  SI_ATTEMPT_TIMEOUT_MS: setting.integer({
    default: 20_000,
    min: 50,
    max: 300_000,
    unit: "ms",
    meaning: "The most one provider attempt may take.",
  }),
  SI_STREAM_MAX_MS: setting.integer({
    default: 600_000,
    min: 1_000,
    max: 3_000_000,
    unit: "ms",
    meaning: "The longest a streamed answer may run before it is cut off and charged for what was sent.",
  }),
  SI_ALLOWANCE_CREDITS: setting.integer({
    default: 1,
    min: 0,
    max: 1_000,
    unit: "credits",
    meaning:
      "Credits this instance reserves per account to admit calls without a ledger trip (0: each call holds its own).",
  }),
  SI_ALLOWANCE_IDLE_MS: setting.integer({
    default: 2_000,
    min: 0,
    // So an idle allowance's release fits in the `waitUntil` of the call that used it last.
    max: 8_000,
    unit: "ms",
    meaning: "An account's allowance in this instance is released after this long unused.",
  }),
  SI_SETTLE_BATCH_MS: setting.integer({
    default: 20,
    min: 0,
    max: 1_000,
    unit: "ms",
    meaning: "Charges reach the ledger this long after an answer, batched with the calls made meanwhile.",
  }),
  FLAGS_CACHE_TTL_SECONDS,
});
