const encoder = new TextEncoder();

/** `bytes` as lowercase hex, two digits a byte. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** The SHA-256 of `data` (a string as UTF-8), as its 32 bytes. */
export async function sha256Bytes(data: string | Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data));
}

/** The SHA-256 of `data` (a string as UTF-8), as 64 lowercase hex digits. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await sha256Bytes(data));
}

/**
 * The first 128 bits of `data`'s SHA-256 as 32 hex digits: a name (a storage prefix, an ETag) that
 * must not collide by chance, where nothing depends on it resisting a chosen collision.
 */
export async function shortHash(data: string): Promise<string> {
  return toHex((await sha256Bytes(data)).subarray(0, 16));
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` has the shape {@link sha256Hex} returns. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}
