import { ProviderFailure, type SpeechFormat, type TranscriptWord, workersAiFailure } from "@cognomega/shared";
import type { HeardText, SpeakCall, SpokenAudio, TranscribeCall, VoiceProvider } from "./types";

/** How each format is asked of Deepgram Aura, and what it then sends. */
const AURA_FORMATS: Record<SpeechFormat, { inputs: Record<string, unknown>; contentType: string; bps: number }> = {
  // Aura's MP3 bit rate is 32 or 48 kbps; asking for 48 keeps bytesPerSecond true.
  mp3: { inputs: { encoding: "mp3", bit_rate: 48000 }, contentType: "audio/mpeg", bps: 6000 },
  wav: { inputs: { encoding: "linear16", container: "wav", sample_rate: 24000 }, contentType: "audio/wav", bps: 48000 },
  pcm: {
    inputs: { encoding: "linear16", container: "none", sample_rate: 24000 },
    contentType: "audio/pcm;rate=24000",
    bps: 48000,
  },
};

/** Bytes per `btoa` call: a multiple of 3, so the pieces' base64 joins without padding in between. */
const BASE64_CHUNK = 0x6000;
const MAX_WORDS = 100_000;

/** Base64 of `bytes`, a chunk at a time (a spread of 24 KiB stays well under any argument limit). */
export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += BASE64_CHUNK) {
    parts.push(btoa(String.fromCharCode(...bytes.subarray(i, i + BASE64_CHUNK))));
  }
  return parts.join("");
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** The audio in whichever shape the binding returned it, as a stream (never re-buffered when it is one). */
function audioStream(output: unknown): ReadableStream<Uint8Array> {
  if (output instanceof ReadableStream) return output as ReadableStream<Uint8Array>;
  if (output instanceof Uint8Array) return streamOf(output);
  if (output instanceof ArrayBuffer) return streamOf(new Uint8Array(output));
  if (output instanceof Response) {
    if (!output.ok || !output.body) throw new ProviderFailure("server_error", `workers-ai answered ${output.status}`);
    return output.body;
  }
  const audio = (output as { audio?: unknown } | null)?.audio;
  if (typeof audio === "string") {
    try {
      return streamOf(fromBase64(audio));
    } catch {
      throw new ProviderFailure("server_error", "workers-ai sent audio that is not base64");
    }
  }
  throw new ProviderFailure("server_error", "workers-ai sent no audio");
}

interface WhisperOutput {
  text?: unknown;
  words?: unknown;
  segments?: { words?: unknown }[];
  transcription_info?: { language?: unknown; duration?: unknown };
}

function collectWords(raw: unknown, into: TranscriptWord[]): void {
  if (!Array.isArray(raw)) return;
  for (const item of raw as { word?: unknown; start?: unknown; end?: unknown }[]) {
    if (into.length >= MAX_WORDS) return;
    if (typeof item?.word === "string" && typeof item.start === "number" && typeof item.end === "number")
      into.push({ word: item.word.trim(), start: item.start, end: item.end });
  }
}

/** Whisper's text, language, duration and words; turbo puts words in its segments. */
function heardFrom(output: WhisperOutput, language: string | undefined): HeardText {
  if (typeof output?.text !== "string") throw new ProviderFailure("server_error", "workers-ai sent no transcript");
  const info = output.transcription_info;
  const heard: HeardText = {
    text: output.text.trim(),
    language: typeof info?.language === "string" && info.language ? info.language : (language ?? null),
  };
  if (typeof info?.duration === "number" && Number.isFinite(info.duration) && info.duration >= 0)
    heard.durationS = info.duration;
  const words: TranscriptWord[] = [];
  collectWords(output.words, words);
  if (Array.isArray(output.segments)) {
    for (const segment of output.segments.slice(0, MAX_WORDS)) collectWords(segment?.words, words);
  }
  if (words.length > 0 || Array.isArray(output.words) || Array.isArray(output.segments)) heard.words = words;
  return heard;
}

/**
 * Workers AI through the `AI` binding: Deepgram Aura (and MeloTTS) to speak, Whisper to hear. It has
 * no local mode: offline the binding is absent, or throws "needs to be run remotely", and the
 * provider is unavailable. It offers no voice list of its own (its speakers are catalog data).
 */
export function workersAiProvider(ai: Ai | undefined): VoiceProvider {
  async function run(model: string, inputs: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    if (!ai) throw new ProviderFailure("unavailable", "no AI binding");
    if (signal.aborted) throw new ProviderFailure("timeout", "workers-ai did not answer in time");
    let onAbort: (() => void) | undefined;
    // The binding takes no signal: the race lets the attempt's timer end the wait.
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new ProviderFailure("timeout", "workers-ai did not answer in time"));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([
        (ai.run as (model: string, inputs: unknown) => Promise<unknown>)(model, inputs),
        aborted,
      ]);
    } catch (error) {
      if (error instanceof ProviderFailure) throw error;
      throw workersAiFailure(error, signal);
    } finally {
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  return {
    id: "workers-ai",

    configured() {
      return ai ? { ok: true } : { ok: false, reason: "no AI binding" };
    },

    async speak(call: SpeakCall): Promise<SpokenAudio> {
      if (call.model.model.includes("melotts")) {
        // MeloTTS answers `{audio: <base64 mp3>}` only.
        if (call.format !== "mp3") throw new ProviderFailure("client_error", "melotts produces mp3 only", 400);
        const inputs: Record<string, unknown> = { prompt: call.text };
        const lang = call.language?.split("-")[0]?.toLowerCase();
        if (lang !== undefined) inputs.lang = lang;
        const output = await run(call.model.model, inputs, call.signal);
        return { body: audioStream(output), contentType: "audio/mpeg", bytesPerSecond: 6000 };
      }
      const format = AURA_FORMATS[call.format];
      const output = await run(
        call.model.model,
        { text: call.text, speaker: call.voice, ...format.inputs },
        call.signal,
      );
      return { body: audioStream(output), contentType: format.contentType, bytesPerSecond: format.bps };
    },

    async transcribe(call: TranscribeCall): Promise<HeardText> {
      const language = call.language?.split("-")[0]?.toLowerCase();
      // The original Whisper takes the file's bytes as an array of numbers; v3-turbo takes base64.
      if (call.model.model === "@cf/openai/whisper") {
        const output = await run(call.model.model, { audio: Array.from(call.audio) }, call.signal);
        return heardFrom(output as WhisperOutput, language);
      }
      const inputs: Record<string, unknown> = { audio: toBase64(call.audio) };
      if (language !== undefined) inputs.language = language;
      const output = await run(call.model.model, inputs, call.signal);
      return heardFrom(output as WhisperOutput, language);
    },

    async voices(): Promise<[]> {
      return [];
    },
  };
}
