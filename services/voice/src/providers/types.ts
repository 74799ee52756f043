import type {
  ProviderFailure,
  SpeechFormat,
  TranscriptWord,
  VoiceCatalogEntry,
  VoiceProviderId,
  VoiceView,
} from "@cognomega/shared";

export type { ProviderFailure };

/** One text-to-speech call, as the router hands it to a provider. */
export interface SpeakCall {
  model: VoiceCatalogEntry;
  text: string;
  /** Resolved: the request's voice, or the model's default. */
  voice: string;
  /** Whether the client named the voice: a provider that has no such voice then refuses the request. */
  voiceRequested?: boolean;
  format: SpeechFormat;
  speed?: number;
  language?: string;
  signal: AbortSignal;
}

/** Audio as the provider sends it: never buffered whole. */
export interface SpokenAudio {
  body: ReadableStream<Uint8Array>;
  /** `audio/mpeg`, `audio/wav` or `audio/pcm;rate=<Hz>`. */
  contentType: string;
  /**
   * Bytes of this audio per second of speech (from its format: sample rate × 2 for 16-bit PCM, the
   * bit rate ÷ 8 for MP3), to tell how much speech a cut stream carried.
   */
  bytesPerSecond: number;
}

/** One speech-to-text call. The audio is whole: both providers take a complete file. */
export interface TranscribeCall {
  model: VoiceCatalogEntry;
  audio: Uint8Array;
  /** The audio's media type, as sniffed from its bytes (`audio/wav`, `audio/mpeg`, ...). */
  contentType: string;
  language?: string;
  signal: AbortSignal;
}

/** What a provider heard. `durationS` is the provider's own figure, when it reports one. */
export interface HeardText {
  text: string;
  language: string | null;
  durationS?: number;
  words?: TranscriptWord[];
}

/**
 * A speech provider adapter. Failures throw {@link ProviderFailure} (from shared), classified so the
 * router knows whether to retry, fall back or give up; `configured` says whether it has what it
 * needs (a key or a binding): one that has not is never called.
 */
export interface VoiceProvider {
  readonly id: VoiceProviderId;
  configured(): { ok: true } | { ok: false; reason: string };
  /** Resolves once the provider has accepted the call (status 200, headers in); audio then streams. */
  speak(call: SpeakCall): Promise<SpokenAudio>;
  transcribe(call: TranscribeCall): Promise<HeardText>;
  /** Every voice the provider offers (bounded: at most 1,000), for the KV-cached list. */
  voices(signal: AbortSignal): Promise<VoiceView[]>;
}
