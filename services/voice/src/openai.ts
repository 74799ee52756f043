import { OpenAiSpeechRequest, parseInput, ServiceError, type SpeechFormat, type Transcript } from "@cognomega/shared";
import type { SpeechWant, TranscribeWant } from "./speech-want";

/** OpenAI's speech models: each means "the configured default", so OpenAI code works unchanged. */
const OPENAI_TTS_MODELS = new Set(["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-03-20"]);
/** OpenAI's transcription models, likewise. */
const OPENAI_STT_MODELS = new Set(["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]);
/** OpenAI's built-in voices: each speaks with the serving model's default voice. */
const OPENAI_VOICES = new Set([
  "alloy",
  "ash",
  "ballad",
  "coral",
  "echo",
  "fable",
  "nova",
  "onyx",
  "sage",
  "shimmer",
  "verse",
  "marin",
  "cedar",
]);
const OUR_FORMATS = new Set<string>(["mp3", "wav", "pcm"]);

/**
 * `POST /v1/audio/speech`'s body as a speech request. OpenAI's model and voice names select the
 * defaults; one of our catalog ids or voice ids selects that one. A speed of 1 is no request at all
 * (so a model without speed control still serves it); `instructions` has no equivalent and is ignored.
 */
export function speechWantFromOpenAi(input: unknown): SpeechWant {
  const body = parseInput(OpenAiSpeechRequest, input);
  const format = body.response_format ?? "mp3";
  if (!OUR_FORMATS.has(format))
    throw new ServiceError("invalid_input", `response_format ${format} is not produced here; use mp3, wav or pcm`, {
      issues: [{ path: "response_format", message: "use mp3, wav or pcm" }],
    });
  // The route answers the audio itself; OpenAI's SSE stream of base64 deltas is another answer shape.
  if (body.stream_format === "sse")
    throw new ServiceError("invalid_input", "stream_format sse is not produced here; use audio (the default)", {
      issues: [{ path: "stream_format", message: "use audio" }],
    });
  const voice = typeof body.voice === "string" ? body.voice : body.voice.id;
  if (body.speed !== undefined && body.speed !== 1 && (body.speed < 0.6 || body.speed > 1.5))
    throw new ServiceError("invalid_input", "speed is 0.6 to 1.5 here", {
      issues: [{ path: "speed", message: "0.6 to 1.5" }],
    });
  return {
    text: body.input,
    format: format as SpeechFormat,
    ...(OPENAI_TTS_MODELS.has(body.model) ? {} : { model: body.model }),
    ...(OPENAI_VOICES.has(voice.toLowerCase()) ? {} : { voice }),
    ...(body.speed !== undefined && body.speed !== 1 ? { speed: body.speed } : {}),
  };
}

/** The form fields of `POST /v1/audio/transcriptions` that matter here, checked. */
export interface OpenAiTranscriptionFields {
  want: TranscribeWant;
  responseFormat: "json" | "text" | "verbose_json";
}

export function transcriptionFieldsFromOpenAi(fields: Record<string, string>): OpenAiTranscriptionFields {
  const model = fields.model;
  if (model === undefined || model === "")
    throw new ServiceError("invalid_input", "model is required", { issues: [{ path: "model", message: "required" }] });
  const format = fields.response_format ?? "json";
  if (format !== "json" && format !== "text" && format !== "verbose_json")
    throw new ServiceError(
      "invalid_input",
      `response_format ${format} is not supported; use json, text or verbose_json`,
      {
        issues: [{ path: "response_format", message: "use json, text or verbose_json" }],
      },
    );
  const language = fields.language;
  if (language !== undefined && !/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$/.test(language))
    throw new ServiceError("invalid_input", "language must be an ISO 639-1 code such as en", {
      issues: [{ path: "language", message: "ISO 639-1" }],
    });
  return {
    want: {
      ...(OPENAI_STT_MODELS.has(model) ? {} : { model }),
      ...(language ? { language } : {}),
    },
    responseFormat: format,
  };
}

/** A transcript in OpenAI's answer shapes. */
export function openAiTranscription(transcript: Transcript, format: OpenAiTranscriptionFields["responseFormat"]) {
  if (format === "text") return { body: transcript.text, contentType: "text/plain; charset=utf-8" };
  const usage = { type: "duration" as const, seconds: Math.ceil(transcript.duration_s) };
  if (format === "json")
    return { body: { text: transcript.text, usage }, contentType: "application/json; charset=utf-8" };
  return {
    body: {
      task: "transcribe" as const,
      language: transcript.language,
      duration: transcript.duration_s,
      text: transcript.text,
      words: transcript.words ?? [],
      usage,
    },
    contentType: "application/json; charset=utf-8",
  };
}
