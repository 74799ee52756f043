import { type AudioBodyMeta, ServiceError } from "@cognomega/shared";
import { declaredLength, mediaTypeOf, readExactly } from "./audio";

/** Room a multipart form needs around its audio: boundaries, part headers and the text fields. */
export const FORM_OVERHEAD_BYTES = 64 * 1024;
/** The most parts one transcription form may have, the file included. */
export const MAX_FORM_FIELDS = 32;
/** The longest text field (UTF-8 bytes): a `prompt` is the only long one OpenAI documents. */
export const MAX_FORM_FIELD_BYTES = 4 * 1024;
const MAX_FILENAME_CHARS = 255;
const MAX_FIELD_NAME_CHARS = 128;

/** What OpenAI's `POST /v1/audio/transcriptions` form carried. */
export interface AudioForm {
  audio: Uint8Array;
  /** The file part's media type, lower-cased without parameters; null when it declared none. */
  declaredType: string | null;
  filename: string | null;
  /**
   * Every text field by name (`model`, `language`, `response_format`, `prompt`, `temperature`,
   * `timestamp_granularities[]`, …). A repeated name keeps its values joined by `,`, the way
   * `timestamp_granularities[]=word` and `=segment` arrive.
   */
  fields: Record<string, string>;
}

/** The client's file name without control characters, at most 255 characters; null when none is left. */
function filenameOf(name: string): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed.
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, MAX_FILENAME_CHARS);
  return clean === "" ? null : clean;
}

/** The `boundary` parameter of a Content-Type, if it has a non-empty one. */
function boundaryOf(contentType: string): string | null {
  for (const parameter of contentType.split(";").slice(1)) {
    const equals = parameter.indexOf("=");
    if (equals < 0) continue;
    if (parameter.slice(0, equals).trim().toLowerCase() !== "boundary") continue;
    const value = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1");
    return value === "" ? null : value;
  }
  return null;
}

async function parseForm(bytes: Uint8Array, contentType: string): Promise<FormData> {
  try {
    return await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw new ServiceError("invalid_input", "the body is not a valid multipart/form-data form");
  }
}

/**
 * Reads OpenAI's multipart transcription form. Before a byte is read: `Content-Length` required
 * (411), a digit string (400), at most `maxAudioBytes` + {@link FORM_OVERHEAD_BYTES} (413
 * `{limit}`), not empty (400), and `Content-Type` `multipart/form-data` with a boundary (415); the
 * body is cancelled on any of these. Then exactly the declared bytes are read and parsed by the
 * runtime: a malformed form, a missing or empty `file`, a text `file` or a file in another field,
 * more than {@link MAX_FORM_FIELDS} parts or a field over {@link MAX_FORM_FIELD_BYTES} are 400; a
 * file over `maxAudioBytes` is 413. A file typed `""` or `application/octet-stream` is undeclared.
 */
export async function readAudioForm(
  body: ReadableStream<Uint8Array> | null,
  meta: AudioBodyMeta,
  maxAudioBytes: number,
): Promise<AudioForm> {
  let declared: number;
  const contentType = meta.contentType ?? "";
  try {
    declared = declaredLength(meta.contentLength, maxAudioBytes + FORM_OVERHEAD_BYTES);
    if (declared === 0 || !body) throw new ServiceError("invalid_input", "the form is empty");
    if (mediaTypeOf(contentType) !== "multipart/form-data" || boundaryOf(contentType) === null)
      throw new ServiceError(
        "unsupported_media_type",
        "transcriptions take multipart/form-data with a boundary, as OpenAI's clients send",
        { accepted: ["multipart/form-data"] },
      );
  } catch (error) {
    await body?.cancel().catch(() => {});
    throw error;
  }
  // The raw body is only referenced inside this call, so it can be collected once parsed.
  const form = await parseForm(await readExactly(body, declared), contentType);

  const encoder = new TextEncoder();
  const fields: Record<string, string> = Object.create(null);
  const files: File[] = [];
  let parts = 0;
  for (const [name, value] of form.entries()) {
    if (++parts > MAX_FORM_FIELDS)
      throw new ServiceError("invalid_input", `a transcription form has at most ${MAX_FORM_FIELDS} fields`);
    if (name === "file") {
      if (typeof value === "string") throw new ServiceError("invalid_input", "file must be a file, not text");
      if (files.length > 0) throw new ServiceError("invalid_input", "a transcription form carries one file");
      files.push(value);
      continue;
    }
    if (name.length > MAX_FIELD_NAME_CHARS)
      throw new ServiceError("invalid_input", `form field names are at most ${MAX_FIELD_NAME_CHARS} characters`);
    if (typeof value !== "string") throw new ServiceError("invalid_input", `${name} must be text, not a file`);
    const before = fields[name];
    const joined = before === undefined ? value : `${before},${value}`;
    if (encoder.encode(joined).byteLength > MAX_FORM_FIELD_BYTES)
      throw new ServiceError("invalid_input", `${name} is at most ${MAX_FORM_FIELD_BYTES} bytes`);
    fields[name] = joined;
  }
  const file = files[0];
  if (file === undefined) throw new ServiceError("invalid_input", "file is required");
  if (file.size > maxAudioBytes)
    throw new ServiceError("payload_too_large", `audio is at most ${maxAudioBytes} bytes`, { limit: maxAudioBytes });
  if (file.size === 0) throw new ServiceError("invalid_input", "the audio is empty");

  const type = mediaTypeOf(file.type);
  return {
    audio: new Uint8Array(await file.arrayBuffer()),
    declaredType: type === "" || type === "application/octet-stream" ? null : type,
    filename: filenameOf(file.name),
    fields: { ...fields },
  };
}
