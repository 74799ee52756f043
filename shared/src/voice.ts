import * as v from "valibot";
import type { Meter } from "./meter";
import type { AskResult } from "./si";
import { ROUTING_POLICIES } from "./si";
import { MODEL_ID_MAX_LENGTH } from "./usage";

/** Where speech runs. */
export const VOICE_PROVIDERS = ["cartesia", "workers-ai"] as const;
export type VoiceProviderId = (typeof VOICE_PROVIDERS)[number];

/** What a voice model does: text to speech or speech to text. */
export const VOICE_KINDS = ["tts", "stt"] as const;
export type VoiceKind = (typeof VOICE_KINDS)[number];

/** Audio a text-to-speech answer can be: MP3, WAV (16-bit PCM), or raw 16-bit little-endian PCM. */
export const SPEECH_FORMATS = ["mp3", "wav", "pcm"] as const;
export type SpeechFormat = (typeof SPEECH_FORMATS)[number];

/**
 * The most characters any speech request may carry, whatever `VOICE_MAX_CHARS` says (the schema's
 * bound; the worker's setting is the one that applies, default 5,000).
 */
export const MAX_SPEECH_CHARS = 100_000;

const VOICE_ID = v.pipe(
  v.string("voice must be a string"),
  v.minLength(1, "voice must not be empty"),
  v.maxLength(100, "voice is at most 100 characters"),
  v.regex(/^[\x21-\x7e]+$/, "voice must be visible ASCII"),
);
const MODEL_ID = v.pipe(
  v.string("model must be a string"),
  v.minLength(1, "model must not be empty"),
  v.maxLength(MODEL_ID_MAX_LENGTH),
);
/** An ISO 639-1 language, optionally with a region: `en`, `pt-BR`. */
export const LanguageCode = v.pipe(
  v.string("language must be a string"),
  v.regex(/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$/, "language must be an ISO 639-1 code such as en or pt-BR"),
);
const SPEED = v.pipe(
  v.number("speed must be a number"),
  v.minValue(0.6, "speed is 0.6 to 1.5"),
  v.maxValue(1.5, "speed is 0.6 to 1.5"),
);

/** Body of `POST /api/voice/speech`. */
export const SpeechRequest = v.strictObject({
  text: v.pipe(
    v.string("text must be a string"),
    v.check((text) => text.trim().length > 0, "text must not be empty"),
    v.maxLength(MAX_SPEECH_CHARS, `text is at most ${MAX_SPEECH_CHARS} characters`),
  ),
  voice: v.optional(VOICE_ID),
  model: v.optional(MODEL_ID),
  format: v.optional(v.picklist(SPEECH_FORMATS, "format must be mp3, wav or pcm")),
  speed: v.optional(SPEED),
  language: v.optional(LanguageCode),
});
export type SpeechRequest = v.InferOutput<typeof SpeechRequest>;

/**
 * Body of OpenAI's `POST /v1/audio/speech`. OpenAI's model and voice names map to the configured
 * defaults; `opus`, `aac` and `flac` are formats no configured model produces (400).
 */
export const OpenAiSpeechRequest = v.object({
  model: MODEL_ID,
  input: v.pipe(
    v.string("input must be a string"),
    v.check((text) => text.trim().length > 0, "input must not be empty"),
    v.maxLength(MAX_SPEECH_CHARS),
  ),
  voice: v.union([VOICE_ID, v.object({ id: VOICE_ID })], "voice must be a voice name"),
  response_format: v.optional(v.picklist(["mp3", "opus", "aac", "flac", "wav", "pcm"], "unknown response_format")),
  speed: v.optional(v.pipe(v.number(), v.minValue(0.25), v.maxValue(4))),
  instructions: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  stream_format: v.optional(v.picklist(["audio", "sse"])),
});
export type OpenAiSpeechRequest = v.InferOutput<typeof OpenAiSpeechRequest>;

/** A streamed speech answer over RPC: the audio as the provider sends it, and its headers. */
export interface SpeechAnswer {
  stream: ReadableStream<Uint8Array>;
  /** `audio/mpeg`, `audio/wav` or `audio/pcm;rate=<Hz>`. */
  contentType: string;
  /** Credits are the call's full cost (known before the call); `characters` is what is spoken. */
  meter: Meter;
  /**
   * Tells the voice worker the client left: it stops the provider and settles the hold for what was
   * produced. The receiver calls it when it cancels `stream`, because workerd does not pass a
   * receiver's cancel back to the sender of a stream over RPC.
   */
  stop: () => Promise<void>;
}

/** What the gateway passes with an audio body: its declared length and type, as sent. */
export interface AudioBodyMeta {
  contentLength: string | null;
  contentType: string | null;
}

/** Query of `POST /api/voice/transcribe` (and the form fields of `/v1/audio/transcriptions`). */
export const TranscribeOptions = v.strictObject({
  model: v.optional(MODEL_ID),
  language: v.optional(LanguageCode),
});
export type TranscribeOptions = v.InferOutput<typeof TranscribeOptions>;

/** Body of `POST /api/voice/transcribe` when the audio is one of the caller's uploads. */
export const TranscribeUpload = v.strictObject({
  upload_key: v.pipe(v.string("upload_key must be a string"), v.minLength(1), v.maxLength(1024)),
  model: v.optional(MODEL_ID),
  language: v.optional(LanguageCode),
});
export type TranscribeUpload = v.InferOutput<typeof TranscribeUpload>;

/** One word of a transcript, with its time in seconds from the start of the audio. */
export interface TranscriptWord {
  word: string;
  start: number;
  end: number;
}

/** What `POST /api/voice/transcribe` answers. An empty `text` (silence) is a valid answer. */
export interface Transcript {
  text: string;
  /** The language the provider heard (or was told), when it says. */
  language: string | null;
  /** Seconds of audio, as charged (the provider's figure when it reports one). */
  duration_s: number;
  words?: TranscriptWord[];
  provider: VoiceProviderId;
  model: string;
  credits_used: number;
}

/** A complete answer and its billing headers. */
export interface VoiceJsonAnswer<T> {
  body: T;
  meter: Meter;
}

/** Query of `GET /api/voice/voices`: `provider`, `language`, `cursor`, `limit` (1-100, default 20). */
export const VoiceListQuery = v.strictObject({
  provider: v.optional(v.picklist(VOICE_PROVIDERS, "provider must be cartesia or workers-ai")),
  language: v.optional(LanguageCode),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d{1,6}$/, "cursor is the next_cursor of a previous page"))),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, "limit must be 1-100"), v.toNumber(), v.minValue(1), v.maxValue(100)),
  ),
});
export type VoiceListQuery = v.InferOutput<typeof VoiceListQuery>;

/** A voice a caller may pick: `id` goes in a speech request's `voice`. */
export interface VoiceView {
  id: string;
  name: string;
  provider: VoiceProviderId;
  language: string | null;
  gender?: string;
  description?: string;
}

/** One page of voices. `next_cursor` is null on the last page. */
export interface VoicePage {
  data: VoiceView[];
  next_cursor: string | null;
}

const QUERY_INT = (min: number, max: number, what: string) =>
  v.pipe(
    v.string(),
    v.regex(/^\d{1,6}$/, `${what} must be a whole number`),
    v.toNumber(),
    v.minValue(min, `${what} is ${min} to ${max}`),
    v.maxValue(max, `${what} is ${min} to ${max}`),
  );

/** Query of `POST /api/voice/ask` (the body is the audio). */
export const VoiceAskQuery = v.strictObject({
  skill: v.optional(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,63}$/, "skill must be a skill name"))),
  policy: v.optional(v.picklist(ROUTING_POLICIES, "policy must be cheapest, fastest or balanced")),
  model: v.optional(MODEL_ID),
  max_tokens: v.optional(QUERY_INT(1, 4096, "max_tokens")),
  voice: v.optional(VOICE_ID),
  format: v.optional(v.picklist(SPEECH_FORMATS, "format must be mp3, wav or pcm")),
  language: v.optional(LanguageCode),
});
export type VoiceAskQuery = v.InferOutput<typeof VoiceAskQuery>;

/** Body of `POST /api/voice/ask` when the audio is one of the caller's uploads (options stay in the query). */
export const VoiceAskUpload = v.strictObject({
  upload_key: v.pipe(v.string("upload_key must be a string"), v.minLength(1), v.maxLength(1024)),
});
export type VoiceAskUpload = v.InferOutput<typeof VoiceAskUpload>;

/**
 * What the voice loop answers: what was heard, the SI answer, and that answer spoken. When nothing
 * was heard (silence), `answer` and `audio` are null and only the transcription is charged.
 */
export interface VoiceLoopResult {
  transcript: Transcript;
  answer: AskResult | null;
  audio: {
    content_type: string;
    /** Base64. */
    data: string;
    provider: VoiceProviderId;
    model: string;
    characters: number;
    credits_used: number;
  } | null;
  /** All three stages. */
  credits_used: number;
  request_id: string;
}

const USD = v.pipe(v.number(), v.minValue(0), v.maxValue(1_000_000));

/**
 * One model of the voice catalog (data: an admin replaces it in KV without a deploy). TTS models
 * are priced per million characters, STT models per audio minute, in US dollars.
 */
export const VoiceCatalogEntry = v.pipe(
  v.strictObject({
    id: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._/-]{0,99}$/, "id must be 1-100 of [a-z0-9._/-]")),
    provider: v.picklist(VOICE_PROVIDERS, "provider must be cartesia or workers-ai"),
    model: v.pipe(v.string(), v.minLength(1), v.maxLength(MODEL_ID_MAX_LENGTH)),
    kind: v.picklist(VOICE_KINDS, "kind must be tts or stt"),
    /** TTS: US dollars per million characters. */
    usd_per_m_chars: v.optional(USD),
    /** STT: US dollars per minute of audio. */
    usd_per_minute: v.optional(USD),
    /** TTS: the formats the model produces. */
    formats: v.optional(v.pipe(v.array(v.picklist(SPEECH_FORMATS)), v.minLength(1), v.maxLength(3))),
    /** Languages it speaks or hears; empty: any. */
    languages: v.pipe(v.array(LanguageCode), v.maxLength(200)),
    /** TTS: the voice used when a request names none. */
    default_voice: v.optional(VOICE_ID),
    /** TTS: the voices it has, when the provider's list is fixed (Workers AI's speakers). */
    voices: v.optional(v.pipe(v.array(VOICE_ID), v.maxLength(500))),
    /** TTS: whether it honours `speed`. */
    speed: v.optional(v.boolean()),
    /** Lower is tried first. */
    priority: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1000))),
  }),
  v.check(
    (entry) =>
      entry.kind === "tts"
        ? entry.usd_per_m_chars !== undefined && entry.formats !== undefined && entry.default_voice !== undefined
        : entry.usd_per_minute !== undefined,
    "a tts model needs usd_per_m_chars, formats and default_voice; an stt model needs usd_per_minute",
  ),
);
export type VoiceCatalogEntry = v.InferOutput<typeof VoiceCatalogEntry>;

/** The whole voice catalog, as `PUT /api/admin/voice-catalog` takes it. */
export const VoiceCatalog = v.pipe(
  v.strictObject({ models: v.pipe(v.array(VoiceCatalogEntry), v.minLength(1), v.maxLength(50)) }),
  v.check((catalog) => new Set(catalog.models.map((m) => m.id)).size === catalog.models.length, "ids must be unique"),
);
export type VoiceCatalog = v.InferOutput<typeof VoiceCatalog>;
