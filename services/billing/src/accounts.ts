import { emailAccount, normalizeEmail, ServiceError } from "@cognomega/shared";

// A subject from a token or an admin: `<scheme>:<id>` with no whitespace, e.g. guest:6f1c….
const SUBJECT = /^[a-z][a-z0-9_-]{0,31}:[^\s]{1,256}$/;

/**
 * The account key for a name an admin typed: a subject (`guest:…`, `email:…`) or a bare email
 * address, which means `email:<address>`. Anything else is `invalid_input`.
 */
export function accountKey(raw: string): string {
  const name = raw.trim();
  if (name.startsWith("email:")) {
    const email = normalizeEmail(name.slice("email:".length));
    if (email) return emailAccount(email);
  } else if (name.includes("@") && !name.includes(":")) {
    const email = normalizeEmail(name);
    if (email) return emailAccount(email);
  } else if (SUBJECT.test(name)) {
    return name;
  }
  throw new ServiceError("invalid_input", "account must be a subject (guest:…) or an email address", {
    issues: [{ path: "account", message: "not a subject or an email address" }],
  });
}
