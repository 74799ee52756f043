import { VOICE_SETTINGS } from "./settings";

/** Voice settings read from the worker's vars (declared in settings.ts). */
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
  const settings = VOICE_SETTINGS.read(env);
  return {
    creditsPerUsd: settings.CREDITS_PER_USD,
    maxChars: settings.VOICE_MAX_CHARS,
    maxAudioBytes: settings.VOICE_MAX_AUDIO_BYTES,
    latencyBudgetMs: settings.VOICE_LATENCY_BUDGET_MS,
    attemptTimeoutMs: settings.VOICE_ATTEMPT_TIMEOUT_MS,
    cacheTtlSeconds: settings.VOICE_CACHE_TTL_SECONDS,
    allowanceMicro: settings.VOICE_ALLOWANCE_CREDITS * 1_000_000,
    allowanceIdleMs: settings.VOICE_ALLOWANCE_IDLE_MS,
    settleBatchMs: settings.VOICE_SETTLE_BATCH_MS,
    cartesia: {
      apiKey: settings.CARTESIA_API_KEY,
      baseUrl: settings.CARTESIA_BASE_URL,
      version: settings.CARTESIA_VERSION,
      voiceId: settings.CARTESIA_VOICE_ID,
    },
  };
}
