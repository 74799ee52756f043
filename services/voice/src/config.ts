import { integerSetting, parseCreditsPerUsd, ServiceError } from "@cognomega/shared";

/** Voice settings read from the worker's vars (README: Configuration). */
export interface VoiceSettings {
  creditsPerUsd: number;
  /** The longest text one speech request may carry. */
  maxChars: number;
  /** The largest audio one transcription may carry. */
  maxAudioBytes: number;
  latencyBudgetMs: number;
  attemptTimeoutMs: number;
  /** How long the voices list stays cached in KV. */
  cacheTtlSeconds: number;
  /** Credits (micro) an account's allowance in this instance asks for; a dearer call asks for just that. */
  allowanceMicro: number;
  /** An account's allowance in this instance is released after this long unused. */
  allowanceIdleMs: number;
  /** Charges are written to the ledger this long after a call, batched with the calls made meanwhile. */
  settleBatchMs: number;
  cartesia: {
    apiKey: string | undefined;
    baseUrl: string;
    version: string;
    /** The voice Cartesia speaks with when a request names none (else the catalog's). */
    voiceId: string | undefined;
  };
}

/** Reads and checks the voice settings; a bad value is `not_configured`. */
export function voiceSettings(env: VoiceEnv): VoiceSettings {
  const creditsPerUsd = parseCreditsPerUsd(env.CREDITS_PER_USD);
  if (creditsPerUsd === undefined)
    throw new ServiceError("not_configured", "CREDITS_PER_USD must be an integer from 1 to 1000000");
  const version = env.CARTESIA_VERSION?.trim() || "2026-03-01";
  if (!/^\d{4}-\d{2}-\d{2}$/.test(version))
    throw new ServiceError("not_configured", "CARTESIA_VERSION must be a date such as 2026-03-01");
  const baseUrl = (env.CARTESIA_BASE_URL?.trim() || "https://api.cartesia.ai").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(baseUrl))
    throw new ServiceError("not_configured", "CARTESIA_BASE_URL must be an http(s) URL");
  return {
    creditsPerUsd,
    maxChars: integerSetting(env.VOICE_MAX_CHARS, 5_000, "VOICE_MAX_CHARS", 1, 100_000),
    maxAudioBytes: integerSetting(env.VOICE_MAX_AUDIO_BYTES, 26_214_400, "VOICE_MAX_AUDIO_BYTES", 1_024, 104_857_600),
    latencyBudgetMs: integerSetting(env.VOICE_LATENCY_BUDGET_MS, 20_000, "VOICE_LATENCY_BUDGET_MS", 100, 300_000),
    attemptTimeoutMs: integerSetting(env.VOICE_ATTEMPT_TIMEOUT_MS, 15_000, "VOICE_ATTEMPT_TIMEOUT_MS", 50, 300_000),
    cacheTtlSeconds: integerSetting(env.VOICE_CACHE_TTL_SECONDS, 3_600, "VOICE_CACHE_TTL_SECONDS", 60, 604_800),
    allowanceMicro: integerSetting(env.VOICE_ALLOWANCE_CREDITS, 5, "VOICE_ALLOWANCE_CREDITS", 0, 1_000) * 1_000_000,
    // At most 8 s, so an idle allowance's release fits in the `waitUntil` of the call that used it last.
    allowanceIdleMs: integerSetting(env.VOICE_ALLOWANCE_IDLE_MS, 2_000, "VOICE_ALLOWANCE_IDLE_MS", 0, 8_000),
    settleBatchMs: integerSetting(env.VOICE_SETTLE_BATCH_MS, 20, "VOICE_SETTLE_BATCH_MS", 0, 1_000),
    cartesia: {
      apiKey: env.CARTESIA_API_KEY?.trim() || undefined,
      baseUrl,
      version,
      voiceId: env.CARTESIA_VOICE_ID?.trim() || undefined,
    },
  };
}
