// A fake of Cartesia's HTTP API at the voice worker's network edge (Miniflare's outboundService): it
// runs in Node and refuses what the real API refuses — no `Authorization: Bearer <key>` (401), no
// valid `Cartesia-Version` (400), a body missing what Cartesia requires (400) — so a test passes only
// when the voice worker speaks Cartesia's protocol. What it answers is chosen by markers in the
// transcript (TTS) or at the end of the audio (STT), so a test drives it through the public API alone:
//   [down]  → 503 with Cartesia's JSON error
//   [429]   → 429 with Retry-After: 60
//   [slow]  → the first chunk, then a pause before the rest
//   [cut]   → the body breaks off after the first chunk (as Miniflare's outboundService passes it on,
//             the worker sees the body end there cleanly: a break is only visible to a fetch spy)
//   [hold:<id>] → the first chunk, then nothing until a `[release:<id>]` speech request arrives
//                 (errors after 5 s), so a test sees its first bytes before the provider finished
// Speech: FAKE_CARTESIA_BYTES_PER_CHAR audio bytes per transcript character, in four chunks, a WAV header first for
// container wav. Transcription: the text after an ASCII `TRANSCRIPT:` in the file, else "" when a
// WAV's samples are all zero (silence), else "hello from the fake"; the duration from the WAV header.

/** Voice settings that point the voice worker's Cartesia provider at this fake. */
export const FAKE_CARTESIA_BINDINGS = {
  CARTESIA_API_KEY: "test-cartesia-key",
  CARTESIA_BASE_URL: "https://cartesia.test",
};

/** The host the fake answers for. */
export const FAKE_CARTESIA_HOST = "cartesia.test";

/** Audio bytes the fake produces per character of transcript (before any WAV header). */
export const FAKE_CARTESIA_BYTES_PER_CHAR = 64;

/** The transcript the fake hears in audio that carries no `TRANSCRIPT:` marker and is not silence. */
export const FAKE_DEFAULT_TRANSCRIPT = "hello from the fake";

/** How long `[slow]` pauses between its first chunk and the rest. */
export const FAKE_SLOW_PAUSE_MS = 300;

const API_VERSIONS = new Set(["2024-06-10", "2024-11-13", "2025-04-16", "2025-11-04", "2026-03-01"]);
const SAMPLE_RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);
const ENCODINGS: Record<string, number> = { pcm_f32le: 4, pcm_s16le: 2, pcm_mulaw: 1, pcm_alaw: 1 };
const CONTENT_TYPES: Record<string, string> = { mp3: "audio/mpeg", wav: "audio/wav", raw: "application/octet-stream" };
const HOLD_TIMEOUT_MS = 5_000;
const MAX_MARKER_TEXT = 500;

/** The voices the fake has; the first is the voice worker's configured default. */
export const FAKE_VOICES = Array.from({ length: 25 }, (_, i) => ({
  // Cartesia's ids are lower-case UUIDs (the voice worker refuses any other shape for Cartesia).
  id: i === 0 ? "a0e99841-438c-4a64-b679-ae501e7d6091" : `f0000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
  name: i === 0 ? "Barbershop Man" : `Fake Voice ${i}`,
  description: `a deterministic test voice (${i})`,
  language: i % 5 === 4 ? "de" : "en",
  gender: i % 2 === 0 ? "masculine" : "feminine",
  is_public: true,
  is_owner: false,
  created_at: "2026-01-01T00:00:00Z",
}));
const VOICE_IDS = new Set(FAKE_VOICES.map((voice) => voice.id));

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");
/** `[hold:<id>]` streams waiting for their release. */
const held = new Map<string, () => void>();

function cartesiaError(status: number, title: string, message: string, errorCode: string | null = null): Response {
  return Response.json(
    { error_code: errorCode, title, message, request_id: `fake-${crypto.randomUUID()}` },
    { status, headers: status === 429 ? { "retry-after": "60" } : {} },
  );
}

/** The 401/400 the real API answers for a request without its key or its version. */
function refuseHeaders(request: Request): Response | undefined {
  if (request.headers.get("authorization") !== `Bearer ${FAKE_CARTESIA_BINDINGS.CARTESIA_API_KEY}`)
    return cartesiaError(401, "Unauthorized", "missing or invalid API key (Authorization: Bearer <key>)");
  const version = request.headers.get("cartesia-version");
  if (version === null || !API_VERSIONS.has(version))
    return cartesiaError(400, "Invalid Cartesia-Version", `Cartesia-Version must be one of ${[...API_VERSIONS]}`);
  return undefined;
}

interface TtsBody {
  model_id: string;
  transcript: string;
  voice: { mode: "id"; id: string };
  output_format: { container: "mp3" | "wav" | "raw"; encoding?: string; sample_rate: number; bit_rate?: number };
}

/** Why a `/tts/bytes` body is not one Cartesia accepts, or undefined when it is. */
function ttsBodyProblem(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (typeof b.model_id !== "string" || b.model_id.length === 0) return "model_id is required";
  if (typeof b.transcript !== "string" || b.transcript.length === 0) return "transcript is required";
  const voice = b.voice as Record<string, unknown> | undefined;
  if (typeof voice !== "object" || voice === null || voice.mode !== "id" || typeof voice.id !== "string")
    return 'voice must be {"mode":"id","id":"<voice id>"}';
  const format = b.output_format as Record<string, unknown> | undefined;
  if (typeof format !== "object" || format === null) return "output_format is required";
  if (format.container !== "mp3" && format.container !== "wav" && format.container !== "raw")
    return "output_format.container must be raw, wav or mp3";
  if (typeof format.sample_rate !== "number" || !SAMPLE_RATES.has(format.sample_rate))
    return "output_format.sample_rate is not a supported rate";
  if (format.container !== "mp3" && (typeof format.encoding !== "string" || !(format.encoding in ENCODINGS)))
    return "output_format.encoding is required for raw and wav";
  if (format.bit_rate !== undefined && (typeof format.bit_rate !== "number" || format.bit_rate < 32_000))
    return "output_format.bit_rate must be 32000-192000";
  if (!b.model_id.startsWith("sonic")) return `model ${b.model_id} not found`;
  return undefined;
}

function wavHeader(dataBytes: number, sampleRate: number, bytesPerSample: number, float: boolean): Uint8Array {
  const header = new DataView(new ArrayBuffer(44));
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) header.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  header.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, float ? 3 : 1, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * bytesPerSample, true);
  header.setUint16(32, bytesPerSample, true);
  header.setUint16(34, bytesPerSample * 8, true);
  ascii(36, "data");
  header.setUint32(40, dataBytes, true);
  return new Uint8Array(header.buffer);
}

/** Deterministic audio: MP3 frame headers for mp3, a non-silent saw wave otherwise. */
function audioBytes(length: number, container: string): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 1) & 0xff;
  if (container === "mp3") for (let i = 0; i + 1 < length; i += 64) bytes.set([0xff, 0xfb], i);
  return bytes;
}

function splitInFour(bytes: Uint8Array): Uint8Array[] {
  const size = Math.max(1, Math.ceil(bytes.length / 4));
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.slice(at, at + size));
  return chunks;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What one `/tts/bytes` stream does after its first chunk. */
type Pacing = { kind: "steady" } | { kind: "slow" } | { kind: "cut" } | { kind: "hold"; id: string };

function pacingOf(transcript: string): Pacing {
  if (transcript.includes("[cut]")) return { kind: "cut" };
  if (transcript.includes("[slow]")) return { kind: "slow" };
  const hold = /\[hold:([a-z0-9-]{1,40})\]/.exec(transcript);
  return hold?.[1] ? { kind: "hold", id: hold[1] } : { kind: "steady" };
}

function waitForRelease(id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      held.delete(id);
      resolve(false);
    }, HOLD_TIMEOUT_MS);
    held.set(id, () => {
      clearTimeout(timer);
      held.delete(id);
      resolve(true);
    });
  });
}

function audioStream(chunks: Uint8Array[], pacing: Pacing): ReadableStream<Uint8Array> {
  let sent = 0;
  // Registered now, not on the second pull: a release may arrive before the client reads on.
  const released = pacing.kind === "hold" ? waitForRelease(pacing.id) : undefined;
  return new ReadableStream({
    async pull(controller) {
      if (sent === 1) {
        if (pacing.kind === "cut") return controller.error(new Error("connection reset by fake Cartesia"));
        if (pacing.kind === "slow") await pause(FAKE_SLOW_PAUSE_MS);
        if (released && !(await released)) return controller.error(new Error("fake Cartesia: hold never released"));
      }
      const next = chunks[sent++];
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

async function ttsBytes(request: Request): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return cartesiaError(400, "Bad Request", "body must be JSON");
  }
  const problem = ttsBodyProblem(body);
  if (problem)
    return cartesiaError(400, "Bad Request", problem, problem.includes("not found") ? "model_not_found" : null);
  const { transcript, voice, output_format: format } = body as TtsBody;
  if (!VOICE_IDS.has(voice.id))
    return cartesiaError(404, "Not Found", `voice ${voice.id} not found`, "voice_not_found");
  const release = /\[release:([a-z0-9-]{1,40})\]/.exec(transcript)?.[1];
  if (release) held.get(release)?.();
  if (transcript.includes("[down]")) return cartesiaError(503, "Service Unavailable", "the fake is overloaded");
  if (transcript.includes("[429]"))
    return cartesiaError(429, "Too Many Requests", "concurrency limit reached", "concurrency_limited");

  const data = audioBytes(transcript.length * FAKE_CARTESIA_BYTES_PER_CHAR, format.container);
  let audio = data;
  if (format.container === "wav") {
    const encoding = format.encoding ?? "pcm_s16le";
    const header = wavHeader(data.length, format.sample_rate, ENCODINGS[encoding] ?? 2, encoding === "pcm_f32le");
    audio = new Uint8Array(header.length + data.length);
    audio.set(header);
    audio.set(data, header.length);
  }
  return new Response(audioStream(splitInFour(audio), pacingOf(transcript)), {
    headers: { "content-type": CONTENT_TYPES[format.container] ?? "application/octet-stream" },
  });
}

interface WavFacts {
  seconds: number;
  silent: boolean;
}

/** Duration and silence of a PCM WAV file, walking its chunks (bounded by the file's size). */
function wavFacts(bytes: Uint8Array): WavFacts | undefined {
  if (
    bytes.length < 12 ||
    decoder.decode(bytes.subarray(0, 4)) !== "RIFF" ||
    decoder.decode(bytes.subarray(8, 12)) !== "WAVE"
  )
    return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let byteRate = 0;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = decoder.decode(bytes.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    const start = at + 8;
    if (id === "fmt " && start + 12 <= bytes.length) byteRate = view.getUint32(start + 8, true);
    if (id === "data" && byteRate > 0) {
      const samples = bytes.subarray(start, Math.min(bytes.length, start + size));
      return { seconds: samples.length / byteRate, silent: samples.every((b) => b === 0) };
    }
    at = start + size + (size % 2);
  }
  return undefined;
}

/** The text after `TRANSCRIPT:` in the file, up to its end or a NUL. */
function embeddedTranscript(bytes: Uint8Array): string | undefined {
  const text = decoder.decode(bytes);
  const at = text.lastIndexOf("TRANSCRIPT:");
  if (at === -1) return undefined;
  const rest = text.slice(at + "TRANSCRIPT:".length, at + "TRANSCRIPT:".length + MAX_MARKER_TEXT);
  return (rest.split("\0", 1)[0] ?? "").trim();
}

function wordsOf(text: string, seconds: number): { word: string; start: number; end: number }[] {
  const words = text.split(/\s+/).filter((word) => word.length > 0);
  const step = words.length > 0 ? seconds / words.length : 0;
  return words.map((word, i) => ({ word, start: round(i * step), end: round((i + 1) * step) }));
}

const round = (n: number) => Math.round(n * 1000) / 1000;

async function stt(request: Request): Promise<Response> {
  if (!request.headers.get("content-type")?.startsWith("multipart/form-data"))
    return cartesiaError(400, "Bad Request", "body must be multipart/form-data");
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    return cartesiaError(400, "Bad Request", "malformed multipart body");
  }
  // Node's FormData (where the fake runs) gives files as Blobs; workerd's types say only strings.
  const file = form.get("file") as Blob | string | null;
  if (typeof file === "string" || file === null) return cartesiaError(400, "Bad Request", "file is required");
  if (form.get("model") !== "ink-whisper") return cartesiaError(400, "Bad Request", "model must be ink-whisper");
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length === 0) return cartesiaError(400, "Bad Request", "file is empty");
  const marker = embeddedTranscript(bytes);
  if (marker?.includes("[down]")) return cartesiaError(503, "Service Unavailable", "the fake is overloaded");
  if (marker?.includes("[429]"))
    return cartesiaError(429, "Too Many Requests", "concurrency limit reached", "concurrency_limited");
  const wav = wavFacts(bytes);
  const text = marker ?? (wav?.silent ? "" : FAKE_DEFAULT_TRANSCRIPT);
  // Not WAV: a duration from the size, as if 16 kB a second.
  const duration = round(wav?.seconds ?? bytes.length / 16_000);
  const language = form.get("language");
  return Response.json({
    type: "transcript",
    text,
    duration,
    language: typeof language === "string" && language !== "" ? language : "en",
    request_id: `fake-${crypto.randomUUID()}`,
    words: wordsOf(text, duration),
  });
}

function voices(url: URL): Response {
  const limitParam = url.searchParams.get("limit");
  const limit = limitParam === null ? 10 : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    return cartesiaError(400, "Bad Request", "limit must be 1-100");
  const after = url.searchParams.get("starting_after");
  const start = after === null ? 0 : FAKE_VOICES.findIndex((voice) => voice.id === after) + 1;
  if (after !== null && start === 0) return cartesiaError(400, "Bad Request", `starting_after ${after} not found`);
  const data = FAKE_VOICES.slice(start, start + limit);
  return Response.json({ data, has_more: start + limit < FAKE_VOICES.length });
}

/**
 * The fake's handler, for Miniflare's `outboundService`. Only Cartesia's host is answered; anything
 * else is a 404, so an unexpected outbound call fails loudly.
 */
export async function fakeCartesia(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.host !== FAKE_CARTESIA_HOST) return new Response("fake Cartesia: unknown host", { status: 404 });
  const refused = refuseHeaders(request);
  if (refused) return refused;
  if (request.method === "POST" && url.pathname === "/tts/bytes") return ttsBytes(request);
  if (request.method === "POST" && url.pathname === "/stt") return stt(request);
  if (request.method === "GET" && url.pathname === "/voices") return voices(url);
  return cartesiaError(404, "Not Found", `no route ${request.method} ${url.pathname}`);
}

/** A TTS transcript's audio size as the fake produces it, for tests that check the bytes they got. */
export function fakeSpeechBytes(transcript: string, container: "mp3" | "wav" | "raw"): number {
  return transcript.length * FAKE_CARTESIA_BYTES_PER_CHAR + (container === "wav" ? 44 : 0);
}

/**
 * A 16-bit mono PCM WAV of `seconds` for tests to send: a non-silent tone unless `silent`, and with
 * `transcript` a chunk after the samples carrying `TRANSCRIPT:<text>`, which the fake hears.
 */
export function testWav(seconds: number, options: { transcript?: string; silent?: boolean; sampleRate?: number } = {}) {
  const sampleRate = options.sampleRate ?? 16_000;
  const samples = Math.round(seconds * sampleRate);
  const data = new Uint8Array(samples * 2);
  if (!options.silent) for (let i = 0; i < samples; i++) data[i * 2 + 1] = (i % 32) * 2 + 1;
  const marker =
    options.transcript === undefined ? new Uint8Array(0) : encoder.encode(`TRANSCRIPT:${options.transcript}`);
  const markerChunk = marker.length === 0 ? 0 : 8 + marker.length + (marker.length % 2);
  const header = wavHeader(data.length, sampleRate, 2, false);
  const wav = new Uint8Array(header.length + data.length + markerChunk);
  wav.set(header);
  wav.set(data, header.length);
  const view = new DataView(wav.buffer);
  view.setUint32(4, wav.length - 8, true);
  if (markerChunk > 0) {
    const at = header.length + data.length;
    wav.set(encoder.encode("tscr"), at);
    view.setUint32(at + 4, marker.length, true);
    wav.set(marker, at + 8);
  }
  return wav;
}
