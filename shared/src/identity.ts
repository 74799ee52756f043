import { ServiceError } from "./errors";
/**
 * Where the gateway learned who the caller is.
 * - `jwt`: a verified RS256 guest token.
 * - `header` / `query`: an `X-User-Email` header or `?email=`, honoured only for an admin or when
 *   `TRUST_EMAIL_IDENTITY` is on.
 * - `admin`: an admin key with no user named: the operator acting as themself.
 */
export type IdentitySource = "jwt" | "header" | "query" | "admin";

/**
 * The end user a call acts for. It travels as an explicit RPC argument, never as a header.
 *
 * `sub` is the account key: `guest:<uuid>` for guest tokens, `email:<address>` for an email
 * identity, `admin` for the operator. A JWT's `email` claim is informational only: guest tokens are
 * issued without proof of the address, so an email claim never selects another account.
 */
export interface Identity {
  sub: string;
  email?: string;
  source: IdentitySource;
  /** True when the request carried a valid admin key. */
  admin: boolean;
}

/**
 * The operator acting as themself: what an admin key with no user named resolves to, and what
 * workers act as when they call an admin method on their own behalf.
 */
export const ADMIN_IDENTITY: Readonly<Identity> = Object.freeze({ sub: "admin", source: "admin", admin: true });

/** Per-call facts every RPC method receives beside its input. */
export interface CallContext {
  /** The `X-Request-Id` of the public request that caused this call. */
  requestId: string;
}

const EMAIL_PATTERN =
  /^[^\s@"<>()[\]\\,;:]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** Normalises an email address (trim, lower-case) or returns undefined when it is not one. */
export function normalizeEmail(value: string): string | undefined {
  const email = value.trim().toLowerCase();
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) return undefined;
  return email;
}

/** The account key for an email identity. */
export function emailAccount(email: string): string {
  return `email:${email}`;
}

/** Throws `forbidden` unless the caller is an admin (a request with a valid admin key). */
export function requireAdmin(identity: Identity): void {
  if (!identity.admin) throw new ServiceError("forbidden", "admin only");
}
