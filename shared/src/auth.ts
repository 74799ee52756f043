import * as v from "valibot";

/** Body of `POST /auth/guest`. Both fields are optional; an empty body is a valid request. */
export const GuestTokenRequest = v.strictObject({
  email: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(254), v.email("email must be a valid address"))),
});
export type GuestTokenRequest = v.InferOutput<typeof GuestTokenRequest>;

/** Answer of `POST /auth/guest`. */
export interface GuestToken {
  token: string;
  token_type: "Bearer";
  expires_in: number;
  sub: string;
}

/** One RSA public key as published in the JWKS (RFC 7517). */
export interface PublicJwk {
  kty: "RSA";
  kid: string;
  n: string;
  e: string;
  alg: "RS256";
  use: "sig";
}

/** The JSON Web Key Set served at `/.well-known/jwks.json`. */
export interface Jwks {
  keys: PublicJwk[];
}

/** What a verifier needs: the published keys and the claims a token must carry. */
export interface TokenVerificationConfig {
  jwks: Jwks;
  issuer: string;
  audience: string;
}

/** Body of `POST /api/admin/keys`: publish a new public key ahead of a rotation. */
export const PublishKeyRequest = v.strictObject({
  kid: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "kid must be 1-64 of [A-Za-z0-9._-]")),
  public_key_pem: v.pipe(
    v.string(),
    v.maxLength(8192),
    v.startsWith("-----BEGIN PUBLIC KEY-----", "public_key_pem must be an SPKI PEM"),
  ),
});
export type PublishKeyRequest = v.InferOutput<typeof PublishKeyRequest>;

/** A published key with its rotation bookkeeping, as listed to admins. */
export interface PublishedKeyInfo {
  kid: string;
  published_at: string;
  signing: boolean;
  signing_since?: string;
}
