import { CREDITS_PER_USD, declareSettings, setting } from "@cognomega/shared";

/** The voice worker's settings (docs/configuration.md is generated from this declaration). */
export const VOICE_SETTINGS = declareSettings("voice", {
  CREDITS_PER_USD,
  CARTESIA_API_KEY: setting.text({
    secret: true,
    meaning: "Cartesia's API key; without it Cartesia's models are skipped.",
  }),
  CARTESIA_BASE_URL: setting.url({ default: "https://api.cartesia.ai", meaning: "Cartesia's API." }),
  CARTESIA_VERSION: setting.text({
    default: "2026-03-01",
    format: { pattern: /^\d{4}-\d{2}-\d{2}$/, description: "a date such as 2026-03-01" },
    meaning: "The Cartesia-Version header every call sends.",
  }),
  CARTESIA_VOICE_ID: setting.text({
    meaning: "Cartesia's voice when a request names none (any id from GET /api/voice/voices); unset: the catalog's.",
  }),
  VOICE_MAX_CHARS: setting.integer({
    default: 5_000,
    min: 1,
    max: 100_000,
    unit: "characters",
    meaning: "The longest text one speech request may carry.",
  }),
  VOICE_MAX_AUDIO_BYTES: setting.integer({
    // 25 MiB.
    default: 26_214_400,
    min: 1_024,
    max: 104_857_600,
    unit: "bytes",
    meaning: "The largest audio one transcription may carry.",
  }),
  VOICE_LATENCY_BUDGET_MS: setting.integer({
    default: 20_000,
    min: 100,
    max: 300_000,
    unit: "ms",
    meaning: "Total time a call may spend across providers.",
  }),
  VOICE_ATTEMPT_TIMEOUT_MS: setting.integer({
    default: 15_000,
    min: 50,
    max: 300_000,
    unit: "ms",
    meaning: "The most one provider attempt may take to answer.",
  }),
  VOICE_CACHE_TTL_SECONDS: setting.integer({
    default: 3_600,
    min: 60,
    max: 604_800,
    unit: "seconds",
    meaning: "How long the voices list stays cached in KV.",
  }),
  VOICE_ALLOWANCE_CREDITS: setting.integer({
    default: 5,
    min: 0,
    max: 1_000,
    unit: "credits",
    meaning:
      "Credits this instance reserves per account so a warm call needs no ledger trip (0: each call holds its own).",
  }),
  VOICE_ALLOWANCE_IDLE_MS: setting.integer({
    default: 2_000,
    min: 0,
    // So an idle allowance's release fits in the `waitUntil` of the call that used it last.
    max: 8_000,
    unit: "ms",
    meaning: "An account's allowance in this instance is released after this long unused.",
  }),
  VOICE_SETTLE_BATCH_MS: setting.integer({
    default: 20,
    min: 0,
    max: 1_000,
    unit: "ms",
    meaning: "Charges are written this long after a call, batched with the calls made meanwhile.",
  }),
});
