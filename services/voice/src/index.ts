import {
  type AudioBodyMeta,
  type CallContext,
  type Identity,
  parseInput,
  requireAdmin,
  type SpeechAnswer,
  scopedIdempotencyKey,
  TranscribeUpload,
  type Transcript,
  VoiceAskQuery,
  VoiceAskUpload,
  type VoiceJsonAnswer,
  VoiceListQuery,
  type VoiceLoopResult,
  type VoicePage,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { inspectAudio, readAudioBody } from "./audio";
import { readAudioForm } from "./audio-form";
import { loadVoiceCatalog, resetVoiceCatalog, storeVoiceCatalog } from "./catalog";
import { voiceSettings } from "./config";
import { voiceCredits } from "./credits";
import type { VoiceDeps } from "./deps";
import { type LoopDeps, voiceLoop } from "./loop";
import { openAiTranscription, speechWantFromOpenAi, transcriptionFieldsFromOpenAi } from "./openai";
import { voiceProviders } from "./providers";
import { speechAnswer, startSpeech } from "./speech";
import { speechWant, transcribeWant } from "./speech-want";
import { transcribeAudio } from "./transcribe";
import { listVoices } from "./voices";

/** What `/v1/audio/transcriptions` answers: JSON, or plain text for `response_format=text`. */
export interface OpenAiTranscriptionAnswer {
  body: unknown;
  contentType: string;
  meter: VoiceJsonAnswer<unknown>["meter"];
}

/** Runs `parse` on input that arrived with a body; a refusal cancels the body unread. */
function before<T>(body: ReadableStream<Uint8Array> | null, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    body?.cancel().catch(() => {});
    throw error;
  }
}

/** The gateway passes a client's key in its scope (`user:<key>`): the shared rule for scoped keys. */
function checkIdempotencyKey(key: string | null, body: ReadableStream<Uint8Array> | null): void {
  before(body, () => scopedIdempotencyKey(key));
}

/**
 * Speech in and out. Text to speech (Cartesia, Workers AI Aura) and speech to text (Workers AI
 * Whisper, Cartesia Ink) with the catalog-as-data, fallback and circuit-breaker rules of SI. Every
 * call is held before a provider is called (402 first), from the account's credit allowance in this
 * instance (see credits.ts), and charged at its actual cost as its own ledger entry, with a usage
 * event (characters or audio seconds) under the request's id.
 */
export class VoiceService extends MeshEntrypoint<VoiceEnv> {
  /** Liveness for the gateway's `/ready`: proves the worker runs and its KV answers. */
  async health(): Promise<{ service: "voice"; ok: true }> {
    await this.env.KV_VOICE.get("catalog");
    return { service: "voice", ok: true };
  }

  /** What a call for `identity` runs with; its holds come from the account's allowance here. */
  private deps(identity: Identity, call: CallContext): VoiceDeps {
    const settings = voiceSettings(this.env);
    const waitUntil = (promise: Promise<unknown>) => this.ctx.waitUntil(promise);
    return {
      settings,
      providers: voiceProviders(this.env, settings),
      credits: voiceCredits(this.env.BILLING, settings, identity, call, waitUntil),
      catalog: () => loadVoiceCatalog(this.env.KV_VOICE),
      routing: { budgetMs: settings.latencyBudgetMs, attemptTimeoutMs: settings.attemptTimeoutMs },
      waitUntil,
    };
  }

  /**
   * `POST /api/voice/speech`: `{ text, voice?, model?, format?, speed?, language? }` → the audio,
   * streamed as the provider sends it. Its full cost is held before the call and is in the meter;
   * a stream the client leaves is charged for the audio the provider had produced.
   */
  async speech(input: unknown, identity: Identity, call: CallContext): Promise<SpeechAnswer> {
    const deps = this.deps(identity, call);
    const spoken = await startSpeech(deps, speechWant(input), `tts:${crypto.randomUUID()}`);
    return speechAnswer(spoken, deps);
  }

  /** `POST /v1/audio/speech`: OpenAI's request shape, its model and voice names mapped to the defaults. */
  async openAiSpeech(input: unknown, identity: Identity, call: CallContext): Promise<SpeechAnswer> {
    const deps = this.deps(identity, call);
    const spoken = await startSpeech(deps, speechWantFromOpenAi(input), `tts:${crypto.randomUUID()}`);
    return speechAnswer(spoken, deps);
  }

  /**
   * `POST /api/voice/transcribe` with the audio as the body: `Content-Length` required and bounded
   * by `VOICE_MAX_AUDIO_BYTES`, the type on the allow-list and matching the bytes. `options` are the
   * query's `model` and `language`.
   */
  async transcribe(
    body: ReadableStream<Uint8Array> | null,
    meta: AudioBodyMeta,
    options: unknown,
    identity: Identity,
    call: CallContext,
  ): Promise<VoiceJsonAnswer<Transcript>> {
    const want = before(body, () => transcribeWant(options));
    const deps = before(body, () => this.deps(identity, call));
    const { bytes, declaredType } = await readAudioBody(body, meta, deps.settings.maxAudioBytes);
    const facts = inspectAudio(bytes, declaredType);
    return transcribeAudio(deps, bytes, facts, want, `stt:${crypto.randomUUID()}`);
  }

  /** `POST /api/voice/transcribe` with `{ upload_key, model?, language? }`: one of the caller's uploads. */
  async transcribeUpload(input: unknown, identity: Identity, call: CallContext): Promise<VoiceJsonAnswer<Transcript>> {
    const { upload_key: uploadKey, ...options } = parseInput(TranscribeUpload, input);
    const want = transcribeWant(options);
    const deps = this.deps(identity, call);
    const { bytes, facts } = await this.readUpload(identity, uploadKey, deps, call);
    return transcribeAudio(deps, bytes, facts, want, `stt:${crypto.randomUUID()}`);
  }

  /** One of the caller's uploads as audio: read exactly, bounded and recognised like a body. */
  private async readUpload(identity: Identity, uploadKey: string, deps: VoiceDeps, call: CallContext) {
    const file = await this.env.UPLOADS.download(identity, uploadKey, call);
    const { bytes, declaredType } = await readAudioBody(
      file.body as ReadableStream<Uint8Array>,
      { contentLength: file.headers["Content-Length"] ?? null, contentType: file.headers["Content-Type"] ?? null },
      deps.settings.maxAudioBytes,
    );
    return { bytes, facts: inspectAudio(bytes, declaredType) };
  }

  /**
   * `POST /v1/audio/transcriptions`: a multipart form with `file` and `model` (OpenAI's names map to
   * the default), `language` and `response_format` (`json`, `text`, `verbose_json`).
   */
  async openAiTranscription(
    body: ReadableStream<Uint8Array> | null,
    meta: AudioBodyMeta,
    identity: Identity,
    call: CallContext,
  ): Promise<OpenAiTranscriptionAnswer> {
    const deps = before(body, () => this.deps(identity, call));
    const form = await readAudioForm(body, meta, deps.settings.maxAudioBytes);
    const fields = transcriptionFieldsFromOpenAi(form.fields);
    const facts = inspectAudio(form.audio, form.declaredType);
    const heard = await transcribeAudio(deps, form.audio, facts, fields.want, `stt:${crypto.randomUUID()}`);
    return { ...openAiTranscription(heard.body, fields.responseFormat), meter: heard.meter };
  }

  /**
   * `GET /api/voice/voices`: the voices a caller may pick, paged. Provider voice lists are cached in
   * KV (`VOICE_CACHE_TTL_SECONDS`), so a page costs no provider call while the cache is warm.
   */
  async voices(query: unknown, identity: Identity, call: CallContext): Promise<VoicePage> {
    const want = parseInput(VoiceListQuery, query ?? {});
    const deps = this.deps(identity, call);
    const { models } = await deps.catalog();
    return listVoices(this.env.KV_VOICE, deps.providers, models, want, deps.settings.cacheTtlSeconds);
  }

  /**
   * `POST /api/voice/ask`: the audio as the body (as for `transcribe`), `query` = `skill`, `policy`,
   * `model`, `max_tokens`, `voice`, `format`, `language`. Audio in → transcript → an SI ask → the
   * answer spoken. Each stage is its own charge; under an idempotency key a retry is billed once.
   */
  async ask(
    body: ReadableStream<Uint8Array> | null,
    meta: AudioBodyMeta,
    query: unknown,
    identity: Identity,
    idempotencyKey: string | null,
    call: CallContext,
  ): Promise<VoiceJsonAnswer<VoiceLoopResult>> {
    checkIdempotencyKey(idempotencyKey, body);
    const deps = before(body, () => this.deps(identity, call));
    // The query is checked before the audio is read, so a bad one costs no upload.
    before(body, () => parseInput(VoiceAskQuery, query ?? {}));
    const { bytes, declaredType } = await readAudioBody(body, meta, deps.settings.maxAudioBytes);
    const facts = inspectAudio(bytes, declaredType);
    return voiceLoop(this.loopDeps(deps), bytes, facts, query, identity, idempotencyKey, call);
  }

  /** `POST /api/voice/ask` with `{ upload_key }`: the voice loop on one of the caller's uploads. */
  async askUpload(
    input: unknown,
    query: unknown,
    identity: Identity,
    idempotencyKey: string | null,
    call: CallContext,
  ): Promise<VoiceJsonAnswer<VoiceLoopResult>> {
    checkIdempotencyKey(idempotencyKey, null);
    const { upload_key: uploadKey } = parseInput(VoiceAskUpload, input);
    parseInput(VoiceAskQuery, query ?? {});
    const deps = this.deps(identity, call);
    const { bytes, facts } = await this.readUpload(identity, uploadKey, deps, call);
    return voiceLoop(this.loopDeps(deps), bytes, facts, query, identity, idempotencyKey, call);
  }

  private loopDeps(deps: VoiceDeps): LoopDeps {
    const billing = this.env.BILLING;
    return {
      ...deps,
      kv: this.env.KV_VOICE,
      ask: (input, who, key, context) => this.env.SI.ask(input, who, key, context),
      operations: {
        begin: (who, key, fingerprint, context, options) =>
          billing.beginOperation(who, key, fingerprint, context, options),
        complete: (who, key, response, context) => billing.completeOperation(who, key, response, context),
        abandon: (who, key, context) => billing.abandonOperation(who, key, context),
      },
    };
  }

  /** Admin: the voice catalog in force, and whether it is the default or an override in KV. */
  async getCatalog(admin: Identity, _call: CallContext) {
    requireAdmin(admin);
    return loadVoiceCatalog(this.env.KV_VOICE);
  }

  /** Admin: replaces the voice catalog (validated whole) without a deploy. */
  async setCatalog(input: unknown, admin: Identity, _call: CallContext) {
    requireAdmin(admin);
    return storeVoiceCatalog(this.env.KV_VOICE, input);
  }

  /** Admin: drops the override; the default voice catalog applies again. */
  async resetCatalog(admin: Identity, _call: CallContext) {
    requireAdmin(admin);
    return resetVoiceCatalog(this.env.KV_VOICE);
  }
}

/** What other workers bind to (`"entrypoint": "VoiceEntrypoint"`): VoiceService, answering refusals as values. */
export const VoiceEntrypoint = refusingEntrypoint<VoiceEnv, typeof VoiceService>(VoiceService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<VoiceEnv>;
