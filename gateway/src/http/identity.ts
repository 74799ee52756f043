import { ADMIN_IDENTITY, emailAccount, type Identity, normalizeEmail, ServiceError } from "@cognomega/shared";
import type { JWTPayload } from "jose";

function emailIdentity(raw: string, source: "query" | "header", admin: boolean): Identity {
  const email = normalizeEmail(raw);
  if (!email) {
    const field = source === "query" ? "email" : "X-User-Email";
    throw new ServiceError("invalid_input", `${field} is not a valid email address`, {
      issues: [{ path: field, message: "not a valid email address" }],
    });
  }
  return { sub: emailAccount(email), email, source, admin };
}

/** Inputs to identity resolution, gathered by the request context. */
export interface IdentityInputs {
  url: URL;
  request: Request;
  admin: boolean;
  trustEmail: boolean;
  verify: (token: string) => Promise<JWTPayload>;
}

/**
 * Resolves the caller in this order: `?email=` → `X-User-Email` → Bearer JWT. The first two
 * are unauthenticated claims, honoured only for an admin (an operator acting for a user) or when
 * `TRUST_EMAIL_IDENTITY` is on; otherwise they are ignored and the JWT decides. An admin key with
 * no user named resolves to the operator. Returns undefined for an anonymous request.
 */
export async function resolveIdentity(inputs: IdentityInputs): Promise<Identity | undefined> {
  const { url, request, admin } = inputs;
  if (admin || inputs.trustEmail) {
    const fromQuery = url.searchParams.get("email");
    if (fromQuery !== null) return emailIdentity(fromQuery, "query", admin);
    const fromHeader = request.headers.get("X-User-Email");
    if (fromHeader !== null) return emailIdentity(fromHeader, "header", admin);
  }

  const authorization = request.headers.get("Authorization");
  if (authorization !== null) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match?.[1]) throw new ServiceError("unauthenticated", "Authorization must be `Bearer <token>`");
    const claims = await inputs.verify(match[1]);
    const claimedEmail =
      typeof claims.email === "string" ? claims.email : typeof claims.em === "string" ? claims.em : undefined;
    const email = claimedEmail ? normalizeEmail(claimedEmail) : undefined;
    const sub =
      typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : email ? emailAccount(email) : undefined;
    if (!sub) throw new ServiceError("unauthenticated", "invalid token: no sub or email claim");
    return email ? { sub, email, source: "jwt", admin } : { sub, source: "jwt", admin };
  }

  if (admin) return { ...ADMIN_IDENTITY };
  return undefined;
}
