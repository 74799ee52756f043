import { ServiceError } from "@cognomega/shared";

const DECIMAL = /^[0-9]{1,16}$/;
// One decoder for every body: without `stream`, each decode starts afresh.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function tooLarge(limit: number): ServiceError {
  return new ServiceError("payload_too_large", `JSON body exceeds ${limit} bytes`, { limit });
}

/**
 * Reads a JSON body of at most `limit` bytes. A declared `Content-Length` over the limit is refused
 * before reading (a body within it is read whole: the runtime delivers no more than was declared);
 * a chunked body is counted while it streams. An empty body reads as `undefined`.
 */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) return undefined;
  const bytes = DECIMAL.test(declared ?? "")
    ? new Uint8Array(await request.arrayBuffer())
    : await readCapped(request.body, limit);
  if (bytes.byteLength > limit) throw tooLarge(limit);
  if (bytes.byteLength === 0) return undefined;

  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new ServiceError("malformed_json", "request body is not valid UTF-8");
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : "unparseable";
    throw new ServiceError("malformed_json", `request body is not valid JSON: ${reason}`);
  }
}

/** A body without a declared length (chunked), counted while it streams and refused past `limit`. */
async function readCapped(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
