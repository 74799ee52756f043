const encoder = new TextEncoder();

/** The SHA-256 of `data` (a string as UTF-8), as 64 lowercase hex digits. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` has the shape {@link sha256Hex} returns. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}
