import {
  ProviderFailure,
  retryAfterMs,
  type SpeechFormat,
  type TranscriptWord,
  type VoiceView,
} from "@cognomega/shared";
import type { VoiceSettings } from "../config";
import type { HeardText, SpeakCall, SpokenAudio, TranscribeCall, VoiceProvider } from "./types";

/** How each speech format is asked of Cartesia, and what it then sends. */
const OUTPUT_FORMATS: Record<
  SpeechFormat,
  { outputFormat: Record<string, unknown>; contentType: string; bps: number }
> = {
  mp3: {
    outputFormat: { container: "mp3", sample_rate: 44100, bit_rate: 128000 },
    contentType: "audio/mpeg",
    bps: 16000,
  },
  wav: {
    outputFormat: { container: "wav", encoding: "pcm_s16le", sample_rate: 24000 },
    contentType: "audio/wav",
    bps: 48000,
  },
  pcm: {
    outputFormat: { container: "raw", encoding: "pcm_s16le", sample_rate: 24000 },
    contentType: "audio/pcm;rate=24000",
    bps: 48000,
  },
};

/** A Cartesia `error_code` is shown to clients only when it looks like one (a short snake_case word). */
const STABLE_CODE = /^[a-z][a-z0-9_]{0,63}$/;
/** Codes that mean "this model will not serve", whatever the status: another model may. */
const MODEL_GONE = new Set(["model_not_found", "model_sunsetted"]);
const MAX_VOICE_PAGES = 10;
const MAX_VOICES = 1_000;

const FILE_EXTENSIONS: Record<string, string> = {
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/mpeg": "mp3",
  "audio/webm": "webm",
  "audio/ogg": "ogg",
  "audio/mp4": "m4a",
  "audio/flac": "flac",
};

/** Classifies a Cartesia error answer: its JSON `{error_code, title, message}` or a plain-text line. */
export async function cartesiaFailure(response: Response): Promise<ProviderFailure> {
  const status = response.status;
  let message = `cartesia answered ${status}`;
  let code: string | undefined;
  try {
    const text = (await response.text()).slice(0, 2_000);
    try {
      const body = JSON.parse(text) as { error_code?: unknown; title?: unknown; message?: unknown };
      if (typeof body.error_code === "string" && STABLE_CODE.test(body.error_code)) code = body.error_code;
      const parts = [body.title, body.message].filter((p): p is string => typeof p === "string" && p.length > 0);
      if (parts.length > 0) message = `cartesia: ${parts.join(": ")}`.slice(0, 300);
    } catch {
      if (text.trim()) message = `cartesia: ${text.trim()}`.slice(0, 300);
    }
  } catch {
    // the body broke off: the status says enough
  }
  const retryAfter = retryAfterMs(response.headers);
  if (code !== undefined && MODEL_GONE.has(code))
    return new ProviderFailure("rejected", message, status, undefined, code);
  if (status === 429) return new ProviderFailure("rate_limited", message, status, retryAfter, code);
  if (status === 408) return new ProviderFailure("timeout", message, status, undefined, code);
  if (status >= 500) return new ProviderFailure("server_error", message, status, retryAfter, code);
  if (status === 400 || status === 422) return new ProviderFailure("client_error", message, status, undefined, code);
  // 401/403 (key), 402 (out of credits), 404 (model or voice gone), 413: another provider may serve it.
  return new ProviderFailure("rejected", message, status, undefined, code);
}

function primaryLanguage(language: string | undefined): string | undefined {
  return language?.split("-")[0]?.toLowerCase();
}

interface CartesiaVoice {
  id?: unknown;
  name?: unknown;
  language?: unknown;
  gender?: unknown;
  description?: unknown;
}

function voiceView(raw: CartesiaVoice): VoiceView | undefined {
  if (typeof raw.id !== "string" || raw.id.length === 0 || raw.id.length > 100) return undefined;
  const view: VoiceView = {
    id: raw.id,
    name: typeof raw.name === "string" && raw.name ? raw.name.slice(0, 200) : raw.id,
    provider: "cartesia",
    language: typeof raw.language === "string" && raw.language ? raw.language : null,
  };
  if (typeof raw.gender === "string" && raw.gender) view.gender = raw.gender;
  if (typeof raw.description === "string" && raw.description) view.description = raw.description.slice(0, 500);
  return view;
}

function wordsOf(raw: unknown): TranscriptWord[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const words: TranscriptWord[] = [];
  for (const item of raw.slice(0, 100_000) as { word?: unknown; start?: unknown; end?: unknown }[]) {
    if (typeof item?.word === "string" && typeof item.start === "number" && typeof item.end === "number")
      words.push({ word: item.word, start: item.start, end: item.end });
  }
  return words;
}

/**
 * Cartesia over HTTP: `POST /tts/bytes` (the audio streams back as one body, passed on untouched),
 * `POST /stt` (multipart) and `GET /voices` (paged). Every request carries the key as a Bearer token
 * and the required `Cartesia-Version`.
 */
export function cartesiaProvider(settings: VoiceSettings["cartesia"]): VoiceProvider {
  const headers = (json: boolean): Record<string, string> => {
    const h: Record<string, string> = {
      Authorization: `Bearer ${settings.apiKey}`,
      "Cartesia-Version": settings.version,
    };
    if (json) h["Content-Type"] = "application/json";
    return h;
  };

  async function send(path: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    if (!settings.apiKey) throw new ProviderFailure("unavailable", "no CARTESIA_API_KEY configured");
    let response: Response;
    try {
      response = await fetch(`${settings.baseUrl}${path}`, { ...init, signal });
    } catch (error) {
      if (signal.aborted) throw new ProviderFailure("timeout", "cartesia did not answer in time");
      throw new ProviderFailure(
        "connection_error",
        `cartesia could not be reached: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!response.ok) throw await cartesiaFailure(response);
    return response;
  }

  async function json(response: Response, signal: AbortSignal): Promise<unknown> {
    try {
      return await response.json();
    } catch {
      if (signal.aborted) throw new ProviderFailure("timeout", "cartesia did not finish in time");
      throw new ProviderFailure("server_error", "cartesia sent a body that is not JSON", response.status);
    }
  }

  return {
    id: "cartesia",

    configured() {
      return settings.apiKey ? { ok: true } : { ok: false, reason: "no CARTESIA_API_KEY configured" };
    },

    async speak(call: SpeakCall): Promise<SpokenAudio> {
      const format = OUTPUT_FORMATS[call.format];
      const body: Record<string, unknown> = {
        model_id: call.model.model,
        transcript: call.text,
        voice: { mode: "id", id: call.voice },
        output_format: format.outputFormat,
      };
      const language = primaryLanguage(call.language);
      if (language !== undefined) body.language = language;
      if (call.speed !== undefined && call.model.speed === true) body.generation_config = { speed: call.speed };
      let response: Response;
      try {
        response = await send(
          "/tts/bytes",
          { method: "POST", headers: headers(true), body: JSON.stringify(body) },
          call.signal,
        );
      } catch (error) {
        // A 404 for a voice the client named is the client's mistake: no other provider has that
        // voice, and it says nothing about Cartesia's health (so it must not open the circuit).
        const failure = error as ProviderFailure;
        if (
          call.voiceRequested &&
          failure.kind === "rejected" &&
          failure.status === 404 &&
          !(failure.providerCode !== undefined && MODEL_GONE.has(failure.providerCode))
        )
          throw new ProviderFailure(
            "client_error",
            failure.message,
            404,
            undefined,
            failure.providerCode ?? "voice_not_found",
          );
        throw error;
      }
      if (!response.body) throw new ProviderFailure("server_error", "cartesia sent no audio", response.status);
      return { body: response.body, contentType: format.contentType, bytesPerSecond: format.bps };
    },

    async transcribe(call: TranscribeCall): Promise<HeardText> {
      const form = new FormData();
      const type = call.contentType.split(";")[0]?.trim().toLowerCase() ?? "";
      form.append(
        "file",
        new Blob([call.audio], { type: call.contentType }),
        `audio.${FILE_EXTENSIONS[type] ?? "bin"}`,
      );
      form.append("model", call.model.model);
      const language = primaryLanguage(call.language);
      if (language !== undefined) form.append("language", language);
      form.append("timestamp_granularities[]", "word");
      const response = await send("/stt", { method: "POST", headers: headers(false), body: form }, call.signal);
      const body = (await json(response, call.signal)) as {
        text?: unknown;
        duration?: unknown;
        language?: unknown;
        words?: unknown;
      } | null;
      if (typeof body?.text !== "string")
        throw new ProviderFailure("server_error", "cartesia sent no transcript", response.status);
      const heard: HeardText = {
        text: body.text,
        language: typeof body.language === "string" && body.language ? body.language : (language ?? null),
      };
      if (typeof body.duration === "number" && Number.isFinite(body.duration) && body.duration >= 0)
        heard.durationS = body.duration;
      const words = wordsOf(body.words);
      if (words) heard.words = words;
      return heard;
    },

    async voices(signal: AbortSignal): Promise<VoiceView[]> {
      const voices: VoiceView[] = [];
      let after: string | undefined;
      for (let page = 0; page < MAX_VOICE_PAGES && voices.length < MAX_VOICES; page++) {
        const query = new URLSearchParams({ limit: "100" });
        if (after !== undefined) query.set("starting_after", after);
        const response = await send(`/voices?${query}`, { method: "GET", headers: headers(false) }, signal);
        const body = (await json(response, signal)) as CartesiaVoice[] | { data?: unknown; has_more?: unknown };
        // 2024-06-10 answers a bare array, unpaged.
        const items = Array.isArray(body)
          ? body
          : Array.isArray(body?.data)
            ? (body.data as CartesiaVoice[])
            : undefined;
        if (!items) throw new ProviderFailure("server_error", "cartesia sent no voice list", response.status);
        for (const item of items) {
          const view = voiceView(item ?? {});
          if (view && voices.length < MAX_VOICES) voices.push(view);
        }
        const last = items.at(-1)?.id;
        if (Array.isArray(body) || body.has_more !== true || typeof last !== "string") break;
        after = last;
      }
      return voices;
    },
  };
}
