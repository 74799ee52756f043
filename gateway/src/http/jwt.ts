import { ServiceError, type TokenVerificationConfig } from "@cognomega/shared";
import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import type { VerificationKeyCache } from "./key-cache";

/** Longest token the gateway will look at. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_SECONDS = 5;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Header members that would let a token choose its own key or extensions.
const FORBIDDEN_HEADER_MEMBERS = ["jwk", "jku", "x5u", "x5c", "crit"] as const;

function reject(reason: string): ServiceError {
  return new ServiceError("unauthenticated", `invalid token: ${reason}`);
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "not yet valid (nbf)";
    if (error.claim === "iss") return "wrong issuer";
    if (error.claim === "aud") return "wrong audience";
    return `claim ${error.claim} ${error.reason}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "signature does not verify";
  if (error instanceof errors.JOSEError) return error.code.toLowerCase().replace(/^err_/, "").replaceAll("_", " ");
  return "unreadable";
}

interface VerifiedToken {
  payload: JWTPayload;
  kid: string;
  /** The key, issuer and audience it was verified with: it stays valid only while they are current. */
  key: Promise<CryptoKey>;
  issuer: string;
  audience: string;
  exp: number;
}

/**
 * Tokens this isolate has already verified, so a client's every request does not pay for an RSA
 * signature check (about 0.1 ms). An entry counts only while the token has not expired and the
 * key cache still holds the very key, issuer and audience it was verified with: retiring or
 * replacing a key ends it exactly as it ends verification. Bounded; the oldest entries go first.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, VerifiedToken>();

  constructor(
    private readonly capacity = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The token's entry while it has not expired. */
  get(token: string): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry && this.now() / 1000 >= entry.exp + CLOCK_TOLERANCE_SECONDS) {
      this.entries.delete(token);
      return undefined;
    }
    return entry;
  }

  /** Forgets a token whose key, issuer or audience changed. */
  delete(token: string): void {
    this.entries.delete(token);
  }

  set(token: string, entry: VerifiedToken): void {
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, entry);
  }
}

/**
 * Verifies a guest token: compact JWS, at most 8 KiB, RS256 only, a published `kid`, no
 * self-supplied key material or `crit` extensions, and `exp`, `iss`, `aud` present and right.
 * Returns the payload; every failure is a 401 `unauthenticated` with the reason. With `verified`,
 * a token already verified against the current key is not checked again until it expires.
 */
export async function verifyToken(
  token: string,
  cache: VerificationKeyCache,
  ttlMs: number,
  load: () => Promise<TokenVerificationConfig>,
  verified?: VerifiedTokens,
): Promise<JWTPayload> {
  const known = verified?.get(token);
  if (known) {
    // Still valid only if the key cache still holds the key, issuer and audience it was checked with.
    const current = await cache.lookup(known.kid, ttlMs, load);
    if (current.key === known.key && current.issuer === known.issuer && current.audience === known.audience)
      return known.payload;
    verified?.delete(token);
  }
  if (token.length > MAX_TOKEN_BYTES) throw reject(`longer than ${MAX_TOKEN_BYTES} bytes`);
  if (!COMPACT_JWS.test(token)) throw reject("not a compact JWT");

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw reject("unreadable header");
  }
  if (header.alg !== "RS256") throw reject(`alg ${String(header.alg)} is not accepted`);
  if (typeof header.kid !== "string" || header.kid === "") throw reject("missing kid");
  for (const member of FORBIDDEN_HEADER_MEMBERS) {
    if (member in header) throw reject(`header member ${member} is not accepted`);
  }

  const { key, issuer, audience } = await cache.lookup(header.kid, ttlMs, load);
  if (!key) throw reject("unknown kid");
  try {
    const { payload } = await jwtVerify(token, await key, {
      algorithms: ["RS256"],
      issuer,
      audience,
      requiredClaims: ["exp", "iss", "aud"],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    if (verified && typeof payload.exp === "number")
      verified.set(token, { payload, kid: header.kid, key, issuer, audience, exp: payload.exp });
    return payload;
  } catch (error) {
    throw reject(describe(error));
  }
}
