import type { GuestToken } from "@cognomega/shared";
import { SignJWT } from "jose";
import type { TokenSettings } from "./config";
import type { SigningKey } from "./keys";

/** Signs a guest token: RS256, `kid` header, `iss`/`aud`/`sub`/`iat`/`exp`/`jti`, optional `email`. */
export async function signGuestToken(
  key: SigningKey,
  settings: TokenSettings,
  email: string | undefined,
): Promise<GuestToken> {
  const sub = `guest:${crypto.randomUUID()}`;
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT(email ? { email } : {})
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + settings.ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
  return { token, token_type: "Bearer", expires_in: settings.ttlSeconds, sub };
}
