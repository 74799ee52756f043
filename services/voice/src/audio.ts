import { type AudioBodyMeta, ServiceError } from "@cognomega/shared";
import { mpegFrameAt, parseMp3 } from "./audio-mpeg";

/** The audio containers a transcription accepts. */
export type AudioContainer = "wav" | "mp3" | "webm" | "ogg" | "mp4" | "flac";

/**
 * The media types a client may declare for audio, each mapped to its container. Only containers
 * are listed: raw AAC (ADTS, `audio/aac`) and raw Opus frames have no header to check and no
 * provider here takes them.
 */
export const AUDIO_TYPES: Readonly<Record<string, AudioContainer>> = Object.freeze({
  "audio/wav": "wav",
  "audio/wave": "wav",
  "audio/x-wav": "wav",
  "audio/vnd.wave": "wav",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/mpeg3": "mp3",
  "audio/webm": "webm",
  "video/webm": "webm",
  "audio/ogg": "ogg",
  "audio/opus": "ogg",
  "application/ogg": "ogg",
  "audio/mp4": "mp4",
  "audio/m4a": "mp4",
  "audio/x-m4a": "mp4",
  "video/mp4": "mp4",
  "audio/flac": "flac",
  "audio/x-flac": "flac",
});

/** The one media type each container is sent to a provider as. */
export const CANONICAL_AUDIO_TYPE: Readonly<Record<AudioContainer, string>> = Object.freeze({
  wav: "audio/wav",
  mp3: "audio/mpeg",
  webm: "audio/webm",
  ogg: "audio/ogg",
  mp4: "audio/mp4",
  flac: "audio/flac",
});

/** What the bytes of an audio file say about themselves. */
export interface AudioFacts {
  container: AudioContainer;
  /** The container's canonical media type ({@link CANONICAL_AUDIO_TYPE}). */
  contentType: string;
  /**
   * The duration the header states: exact for WAV, FLAC (when STREAMINFO counts its samples),
   * MP4 (`mvhd`) and MP3 with a Xing/Info/VBRI frame count; for other MP3 an estimate from the
   * first frame's bitrate. Absent when the container does not say.
   */
  durationMs?: number;
  /** An upper bound on the duration, to hold credits for before a provider hears it. */
  boundMs: number;
  /**
   * The most a charge may count for this audio, whatever a provider reports: the hold's bound when
   * the header is what decoders play by (PCM WAV), else what the size allows at the slowest speech
   * codec (a FLAC, MP4 or Xing duration is a claim no decoder relies on, so a lie may not shrink it;
   * a low-rate Opus may last longer than its hold).
   */
  maxMs: number;
}

/** A body's media type without parameters, lower-cased: `Audio/WAV; x=1` → `audio/wav`. */
export function mediaTypeOf(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * Checks a declared `Content-Length` against `maxBytes` before any byte is read: absent → 411,
 * not a plain digit string → 400, over the limit → 413 with `{limit}`. Answers the byte count.
 */
export function declaredLength(contentLength: string | null, maxBytes: number): number {
  if (contentLength === null) throw new ServiceError("length_required", "Content-Length is required for audio");
  const declared = Number(contentLength);
  if (!/^\d{1,15}$/.test(contentLength) || !Number.isSafeInteger(declared))
    throw new ServiceError("invalid_input", "Content-Length is not a byte count");
  if (declared > maxBytes)
    throw new ServiceError("payload_too_large", `audio is at most ${maxBytes} bytes`, { limit: maxBytes });
  return declared;
}

/**
 * Reads exactly `declared` bytes into one buffer allocated up front, so memory is bounded by the
 * declared (already checked) length. A body that runs past it is cancelled at the first extra
 * byte; one that ends early or breaks off is refused. 400 `invalid_input` either way.
 */
export async function readExactly(body: ReadableStream<Uint8Array>, declared: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(declared);
  const reader = body.getReader();
  let filled = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        throw new ServiceError("invalid_input", `the body broke off after ${filled} of ${declared} bytes`);
      }
      if (chunk.done) break;
      const value = chunk.value;
      if (!ArrayBuffer.isView(value)) throw new ServiceError("invalid_input", "the body is not bytes");
      const view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      if (filled + view.byteLength > declared)
        throw new ServiceError("invalid_input", `the body is longer than its Content-Length of ${declared}`);
      bytes.set(view, filled);
      filled += view.byteLength;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  if (filled !== declared)
    throw new ServiceError("invalid_input", `the body ended after ${filled} of ${declared} bytes`);
  return bytes;
}

/**
 * Reads an audio body: `Content-Length` required (411), a digit string (400), at most `maxBytes`
 * (413 `{limit}`), not empty (400), its type on {@link AUDIO_TYPES} (415) — all before a byte is
 * read — then exactly the declared bytes ({@link readExactly}). The body is cancelled on any refusal.
 * `declaredType` is the media type without parameters, lower-cased.
 */
export async function readAudioBody(
  body: ReadableStream<Uint8Array> | null,
  meta: AudioBodyMeta,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; declaredType: string }> {
  let declared: number;
  const declaredType = mediaTypeOf(meta.contentType);
  try {
    declared = declaredLength(meta.contentLength, maxBytes);
    if (declared === 0 || !body) throw new ServiceError("invalid_input", "the audio is empty");
    if (!Object.hasOwn(AUDIO_TYPES, declaredType)) throw unsupportedType(declaredType);
  } catch (error) {
    await body?.cancel().catch(() => {});
    throw error;
  }
  return { bytes: await readExactly(body, declared), declaredType };
}

function unsupportedType(type: string): ServiceError {
  return new ServiceError(
    "unsupported_media_type",
    `audio of type ${type || "(none)"} is not accepted; accepted: ${Object.keys(AUDIO_TYPES).join(", ")}`,
    { accepted: Object.keys(AUDIO_TYPES) },
  );
}

type Reason = "not_audio" | "truncated";

/** A refusal of bytes that are not (whole) audio: 400 `invalid_input` with `details.reason`. */
export function refused(reason: Reason, message: string): ServiceError {
  return new ServiceError("invalid_input", message, { reason });
}

/** The floor speech codecs go down to (16 kbit/s), so bytes ÷ this over-counts any real audio. */
const FLOOR_BYTES_PER_SECOND = 2_000;
/**
 * The slowest any accepted codec carries speech (Opus and AMR go down to about 4.8 kbit/s): what
 * so many bytes can last at most, so the most a charge may count when no header says.
 */
const SLOWEST_BYTES_PER_SECOND = 600;
/** Parser walks stop here: real files put what is read within the first few chunks or boxes. */
const MAX_CHUNKS = 64;

/** Whether `text` (ASCII) is at `at`. */
export const ascii = (bytes: Uint8Array, at: number, text: string): boolean => {
  if (at < 0 || at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};
const u16le = (b: Uint8Array, at: number): number => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u32le = (b: Uint8Array, at: number): number => (u16le(b, at) + u16le(b, at + 2) * 0x10000) >>> 0;
/** The big-endian 32-bit word at `at` (0 past the end). */
export const u32be = (b: Uint8Array, at: number): number =>
  (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;

/**
 * The highest byte rate audio in each container plausibly has: FLAC, MP4 (ALAC) and a codec in a WAV at
 * 48 kHz stereo 24-bit, MPEG audio at its largest bit rate (448 kbit/s). A stated duration shorter than the bytes
 * last at this rate is a lie, and is not what the hold is taken for.
 */
const MAX_BYTES_PER_SECOND: Readonly<Record<AudioContainer, number>> = Object.freeze({
  wav: 288_000,
  flac: 288_000,
  mp4: 288_000,
  mp3: 56_000,
  ogg: 288_000,
  webm: 288_000,
});

/**
 * A container's duration → its facts. `trust`: `decoded` for a duration decoders play by (WAV's
 * fmt and data chunks), `stated` for a header's claim decoders ignore (FLAC STREAMINFO, MP4 mvhd,
 * a Xing frame count), `estimate` for a guess (a CBR MP3's first bit rate).
 */
export function facts(
  container: AudioContainer,
  byteLength: number,
  durationMs?: number,
  trust: "decoded" | "stated" | "estimate" = "stated",
): AudioFacts {
  const sizeBound = Math.max(1_000, Math.ceil((byteLength * 1_000) / FLOOR_BYTES_PER_SECOND));
  const longest = Math.ceil((byteLength * 1_000) / SLOWEST_BYTES_PER_SECOND);
  if (durationMs === undefined || trust === "estimate")
    return {
      container,
      contentType: CANONICAL_AUDIO_TYPE[container],
      ...(durationMs !== undefined ? { durationMs } : {}),
      boundMs: Math.max(sizeBound, durationMs ?? 0),
      maxMs: Math.max(sizeBound, longest, durationMs ?? 0),
    };
  // A duration is held at its whole seconds plus one, so a provider rounding up still fits.
  const stated = Math.max((Math.ceil(durationMs / 1_000) + 1) * 1_000, durationMs);
  const plausible = Math.ceil((byteLength * 1_000) / MAX_BYTES_PER_SECOND[container]);
  const boundMs = trust === "decoded" ? stated : Math.max(stated, plausible);
  return {
    container,
    contentType: CANONICAL_AUDIO_TYPE[container],
    durationMs,
    boundMs,
    maxMs: trust === "decoded" ? boundMs : Math.max(boundMs, longest),
  };
}

/** WAVE format tags whose data is plain samples: PCM, IEEE float, A-law, µ-law, extensible. */
const PCM_FORMATS = new Set([1, 3, 6, 7, 0xfffe]);

function parseWav(b: Uint8Array): AudioFacts {
  if (b.length < 12) throw refused("truncated", "the WAV file ends inside its RIFF header");
  let at = 12;
  let byteRate = 0;
  // Only plain samples play by the fmt chunk's rates; a codec in a WAV (MP3, ADPCM) plays by its frames.
  let samplesPlayed = false;
  for (let chunks = 0; chunks < MAX_CHUNKS; chunks++) {
    if (at + 8 > b.length) throw refused("truncated", "the WAV file ends before its data chunk");
    const size = u32le(b, at + 4);
    const body = at + 8;
    const remaining = b.length - body;
    if (ascii(b, at, "fmt ")) {
      if (size < 16 || remaining < 16) throw refused("truncated", "the WAV fmt chunk is short");
      const format = u16le(b, body);
      const channels = u16le(b, body + 2);
      const sampleRate = u32le(b, body + 4);
      byteRate = u32le(b, body + 8);
      if (channels === 0 || byteRate === 0 || sampleRate === 0)
        throw refused("not_audio", "the WAV fmt chunk has no channels, sample rate or byte rate");
      // A PCM decoder plays sample rate × block size, whatever the byte-rate field says; the
      // slower of the two keeps a lying header from shrinking the duration.
      const pcmRate = sampleRate * u16le(b, body + 12);
      samplesPlayed = PCM_FORMATS.has(format) && pcmRate > 0;
      if (samplesPlayed) byteRate = Math.min(byteRate, pcmRate);
    } else if (ascii(b, at, "data")) {
      if (byteRate === 0) throw refused("truncated", "the WAV file has no fmt chunk before its data");
      // Streaming writers leave the size 0 or 0xFFFFFFFF: the data runs to the end of the file.
      const streamed = size === 0 || size === 0xffffffff;
      if (!streamed && size > remaining)
        throw refused("truncated", `the WAV data chunk claims ${size} bytes but ${remaining} are present`);
      const dataBytes = streamed ? remaining : size;
      const durationMs = Math.round((dataBytes * 1_000) / byteRate);
      return facts("wav", b.length, durationMs, samplesPlayed ? "decoded" : "stated");
    }
    // Chunks are padded to an even length.
    at = body + size + (size % 2);
  }
  throw refused("not_audio", `the WAV file has no data chunk within its first ${MAX_CHUNKS} chunks`);
}

function parseFlac(b: Uint8Array): AudioFacts {
  if (b.length < 8 + 34) throw refused("truncated", "the FLAC file ends before its STREAMINFO block is complete");
  const type = (b[4] ?? 0) & 0x7f;
  const length = ((b[5] ?? 0) << 16) | ((b[6] ?? 0) << 8) | (b[7] ?? 0);
  if (type !== 0 || length < 34) throw refused("not_audio", "the FLAC file does not start with a STREAMINFO block");
  if (8 + length > b.length) throw refused("truncated", "the FLAC STREAMINFO block is cut short");
  const s = 8;
  const sampleRate = ((b[s + 10] ?? 0) << 12) | ((b[s + 11] ?? 0) << 4) | ((b[s + 12] ?? 0) >> 4);
  if (sampleRate === 0) throw refused("not_audio", "the FLAC STREAMINFO has no sample rate");
  const totalSamples = ((b[s + 13] ?? 0) & 0x0f) * 2 ** 32 + u32be(b, s + 14);
  return facts("flac", b.length, totalSamples === 0 ? undefined : Math.round((totalSamples * 1_000) / sampleRate));
}

function parseOgg(b: Uint8Array): AudioFacts {
  if (b.length < 27) throw refused("truncated", "the Ogg file ends inside its first page header");
  if (b[4] !== 0) throw refused("not_audio", "the Ogg page has an unknown version");
  const segments = b[26] ?? 0;
  let pageLength = 27 + segments;
  if (pageLength > b.length) throw refused("truncated", "the Ogg file ends inside its first page header");
  for (let i = 0; i < segments; i++) pageLength += b[27 + i] ?? 0;
  if (pageLength > b.length) throw refused("truncated", "the Ogg file ends inside its first page");
  return facts("ogg", b.length);
}

function parseWebm(b: Uint8Array): AudioFacts {
  if (b.length < 5) throw refused("truncated", "the WebM file ends inside its EBML header");
  const first = b[4] ?? 0;
  if (first === 0) throw refused("not_audio", "the EBML header size is not a valid number");
  const width = Math.clz32(first) - 23; // 1..8: the leading zeros of the size's first byte, plus one.
  if (4 + width > b.length) throw refused("truncated", "the WebM file ends inside its EBML header");
  let size = first & (0xff >> width);
  for (let i = 1; i < width; i++) size = size * 256 + (b[4 + i] ?? 0);
  if (size === 2 ** (7 * width) - 1) throw refused("not_audio", "the EBML header has no size");
  if (4 + width + size > b.length) throw refused("truncated", "the WebM file ends inside its EBML header");
  return facts("webm", b.length);
}

/** The movie's duration from `moov/mvhd`, when the box is whole and says one. */
function mvhdDurationMs(b: Uint8Array, start: number, end: number): number | undefined {
  let at = start;
  for (let boxes = 0; boxes < MAX_CHUNKS && at + 8 <= end; boxes++) {
    const size = u32be(b, at);
    if (size < 8 || at + size > end) return undefined;
    if (ascii(b, at + 4, "mvhd")) {
      const version = b[at + 8];
      const [scaleAt, durationAt, need] = version === 1 ? [at + 28, at + 32, 40] : [at + 20, at + 24, 28];
      if (size < need) return undefined;
      const timescale = u32be(b, scaleAt);
      const duration = version === 1 ? u32be(b, durationAt) * 2 ** 32 + u32be(b, durationAt + 4) : u32be(b, durationAt);
      // Fragmented files leave 0 (or all ones) here: the length lives in the fragments.
      if (timescale === 0 || duration === 0 || duration === 0xffffffff) return undefined;
      const ms = Math.round((duration * 1_000) / timescale);
      return Number.isSafeInteger(ms) ? ms : undefined;
    }
    at += size;
  }
  return undefined;
}

function parseMp4(b: Uint8Array): AudioFacts {
  let at = 0;
  let durationMs: number | undefined;
  for (let boxes = 0; boxes < MAX_CHUNKS && at < b.length; boxes++) {
    if (at + 8 > b.length) throw refused("truncated", "the MP4 file ends inside a box header");
    let size = u32be(b, at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > b.length) throw refused("truncated", "the MP4 file ends inside a box header");
      size = u32be(b, at + 8) * 2 ** 32 + u32be(b, at + 12);
      header = 16;
    } else if (size === 0) {
      size = b.length - at; // The last box runs to the end of the file.
    }
    if (size < header || (at === 0 && size < 16))
      throw refused("not_audio", "an MP4 box is smaller than its own header");
    if (size > b.length - at)
      throw refused("truncated", `an MP4 box claims ${size} bytes but ${b.length - at} are left`);
    if (ascii(b, at + 4, "moov")) durationMs ??= mvhdDurationMs(b, at + header, at + size);
    at += size;
  }
  return facts("mp4", b.length, durationMs);
}

function sniff(b: Uint8Array): AudioContainer | null {
  if (ascii(b, 0, "RIFF") && (b.length < 12 || ascii(b, 8, "WAVE"))) return "wav";
  if (ascii(b, 0, "fLaC")) return "flac";
  if (ascii(b, 0, "OggS")) return "ogg";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm";
  if (ascii(b, 4, "ftyp")) return "mp4";
  if (ascii(b, 0, "ID3") || mpegFrameAt(b, 0) !== null) return "mp3";
  return null;
}

const PARSERS: Record<AudioContainer, (bytes: Uint8Array) => AudioFacts> = {
  wav: parseWav,
  flac: parseFlac,
  ogg: parseOgg,
  webm: parseWebm,
  mp4: parseMp4,
  mp3: parseMp3,
};

/**
 * Recognises audio by its magic bytes and reads what its header says. Refusals are 400
 * `invalid_input` with `details.reason`: `not_audio` (no known container), `type_mismatch`
 * (`{declared, detected}`: the declared type names another container) or `truncated` (the header
 * or first frame is cut). A declared type off {@link AUDIO_TYPES} is 415. `null`, `""` and
 * `application/octet-stream` declare nothing: the sniff decides. Work is bounded whatever the bytes.
 */
export function inspectAudio(bytes: Uint8Array, declaredType: string | null): AudioFacts {
  const declared = mediaTypeOf(declaredType);
  const undeclared = declared === "" || declared === "application/octet-stream";
  if (!undeclared && !Object.hasOwn(AUDIO_TYPES, declared)) throw unsupportedType(declared);
  const detected = sniff(bytes);
  if (detected === null) throw refused("not_audio", "the bytes are not a WAV, MP3, WebM, Ogg, MP4 or FLAC file");
  if (!undeclared && AUDIO_TYPES[declared] !== detected)
    throw new ServiceError(
      "invalid_input",
      `the audio was declared ${declared} but is ${CANONICAL_AUDIO_TYPE[detected]}`,
      {
        reason: "type_mismatch",
        declared,
        detected: CANONICAL_AUDIO_TYPE[detected],
      },
    );
  return PARSERS[detected](bytes);
}
