import { WorkerEntrypoint } from "cloudflare:workers";
import {
  type AudioBodyMeta,
  type CallContext,
  type Identity,
  ServiceError,
  type SpeechAnswer,
  type Transcript,
  type VoiceCatalog,
  type VoiceJsonAnswer,
  type VoiceLoopResult,
  type VoicePage,
} from "@cognomega/shared";

/** What `/v1/audio/transcriptions` answers: JSON, or plain text for `response_format=text`. */
export interface OpenAiTranscriptionAnswer {
  body: unknown;
  contentType: string;
  meter: VoiceJsonAnswer<unknown>["meter"];
}

/**
 * Speech in and out. Text to speech (Cartesia, Workers AI Aura) and speech to text (Workers AI
 * Whisper, Cartesia Ink) with the catalog-as-data, fallback and circuit-breaker rules of SI; every
 * call is held in the caller's ledger before a provider is called and settled at its actual cost.
 */
export class VoiceService extends WorkerEntrypoint<VoiceEnv> {
  /** Liveness for the gateway's `/ready`: proves the worker runs and its KV answers. */
  async health(): Promise<{ service: "voice"; ok: true }> {
    await this.env.KV_VOICE.get("catalog");
    return { service: "voice", ok: true };
  }

  /** `POST /api/voice/speech`: the audio, streamed as the provider sends it. */
  async speech(_input: unknown, _identity: Identity, _call: CallContext): Promise<SpeechAnswer> {
    throw new ServiceError("not_configured", "speech is being built");
  }

  /** `POST /v1/audio/speech`: OpenAI's request shape, its model and voice names mapped to ours. */
  async openAiSpeech(_input: unknown, _identity: Identity, _call: CallContext): Promise<SpeechAnswer> {
    throw new ServiceError("not_configured", "speech is being built");
  }

  /** `POST /api/voice/transcribe` with the audio as the body. */
  async transcribe(
    _body: ReadableStream<Uint8Array> | null,
    _meta: AudioBodyMeta,
    _options: unknown,
    _identity: Identity,
    _call: CallContext,
  ): Promise<VoiceJsonAnswer<Transcript>> {
    throw new ServiceError("not_configured", "transcription is being built");
  }

  /** `POST /api/voice/transcribe` with `{ upload_key }`: one of the caller's uploads. */
  async transcribeUpload(
    _input: unknown,
    _identity: Identity,
    _call: CallContext,
  ): Promise<VoiceJsonAnswer<Transcript>> {
    throw new ServiceError("not_configured", "transcription is being built");
  }

  /** `POST /v1/audio/transcriptions`: a multipart form with `file` and `model`. */
  async openAiTranscription(
    _body: ReadableStream<Uint8Array> | null,
    _meta: AudioBodyMeta,
    _identity: Identity,
    _call: CallContext,
  ): Promise<OpenAiTranscriptionAnswer> {
    throw new ServiceError("not_configured", "transcription is being built");
  }

  /** `GET /api/voice/voices`: the voices a caller may pick, paged, from a KV cache. */
  async voices(_query: unknown, _identity: Identity, _call: CallContext): Promise<VoicePage> {
    throw new ServiceError("not_configured", "voices are being built");
  }

  /** `POST /api/voice/ask`: audio in, an SI ask, the answer spoken back; each stage its own charge. */
  async ask(
    _body: ReadableStream<Uint8Array> | null,
    _meta: AudioBodyMeta,
    _query: unknown,
    _identity: Identity,
    _idempotencyKey: string | null,
    _call: CallContext,
  ): Promise<VoiceJsonAnswer<VoiceLoopResult>> {
    throw new ServiceError("not_configured", "the voice loop is being built");
  }

  /** Admin: the voice catalog in force. */
  async getCatalog(_admin: Identity, _call: CallContext): Promise<VoiceCatalog & { source: "default" | "kv" }> {
    throw new ServiceError("not_configured", "the catalog is being built");
  }

  /** Admin: replaces the voice catalog (validated whole). */
  async setCatalog(_input: unknown, _admin: Identity, _call: CallContext): Promise<VoiceCatalog & { source: "kv" }> {
    throw new ServiceError("not_configured", "the catalog is being built");
  }

  /** Admin: restores the default voice catalog. */
  async resetCatalog(_admin: Identity, _call: CallContext): Promise<VoiceCatalog & { source: "default" }> {
    throw new ServiceError("not_configured", "the catalog is being built");
  }
}

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<VoiceEnv>;
