import { parseInput, type SpeechFormat, SpeechRequest, TranscribeOptions } from "@cognomega/shared";

/** A speech request after validation, with OpenAI's names already mapped. */
export interface SpeechWant {
  text: string;
  voice?: string;
  model?: string;
  format: SpeechFormat;
  speed?: number;
  language?: string;
}

/** What to hear and how. */
export interface TranscribeWant {
  model?: string;
  language?: string;
}

/** `POST /api/voice/speech`'s body, validated (MP3 unless asked otherwise). */
export function speechWant(input: unknown): SpeechWant {
  const body = parseInput(SpeechRequest, input);
  const { text, voice, model, format, speed, language } = body;
  return {
    text,
    format: format ?? "mp3",
    ...(voice !== undefined ? { voice } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(speed !== undefined ? { speed } : {}),
    ...(language !== undefined ? { language } : {}),
  };
}

/** Transcription options from a query string or a body, validated. */
export function transcribeWant(input: unknown): TranscribeWant {
  const { model, language } = parseInput(TranscribeOptions, input ?? {});
  return { ...(model !== undefined ? { model } : {}), ...(language !== undefined ? { language } : {}) };
}
