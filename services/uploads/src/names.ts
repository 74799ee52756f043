import { shortHash, uuidV7 } from "@cognomega/shared";

/** Longest display filename kept. */
const MAX_FILENAME = 200;

/**
 * A display filename from what the client sent: the last path segment only, no control characters,
 * quotes, slashes or leading dots, at most 200 characters. It is shown and sent back in
 * Content-Disposition, never used as a storage path (keys are generated).
 */
export function sanitizeFilename(raw: string | null | undefined): string {
  if (!raw) return "upload";
  let name = raw.normalize("NFC");
  name = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  name = name.replace(/[^\p{L}\p{N} ._()+,=@-]/gu, "_");
  name = trimTrailingDotsAndSpaces(name.replace(/_+/g, "_").replace(/^[.\s_]+/, "")).trim();
  if (name.length > MAX_FILENAME) {
    const dot = name.lastIndexOf(".");
    const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
    name = name.slice(0, MAX_FILENAME - extension.length) + extension;
  }
  return name === "" ? "upload" : name;
}

const DOT_OR_SPACE = /^[.\s]$/;

/**
 * `name` without trailing dots and whitespace, each character looked at once: `/[.\s]+$/` retries
 * from every dot or space of a long run that does not end the name, which is quadratic.
 */
function trimTrailingDotsAndSpaces(name: string): string {
  let end = name.length;
  while (end > 0 && DOT_OR_SPACE.test(name[end - 1] as string)) end--;
  return name.slice(0, end);
}

/** `Content-Disposition` for a download: RFC 6266 with an ASCII fallback and a UTF-8 form. */
export function contentDisposition(kind: "attachment" | "inline", filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** A time-ordered UUID (version 7), so an owner's keys list oldest first. */
export function uuidv7(now = Date.now()): string {
  return uuidV7(now, crypto.getRandomValues(new Uint8Array(10)));
}

/** The owner's key prefix: a hash, so account names never appear in storage paths. */
export async function ownerPrefix(sub: string): Promise<string> {
  return `uploads/${await shortHash(`uploads\n${sub}`)}/`;
}
