import { ServiceError } from "@cognomega/shared";

/** The most characters an If-Match header may have (a handful of ETags). */
const MAX_IF_MATCH_CHARS = 512;
/** The most ETags one If-Match may list. */
const MAX_IF_MATCH_TAGS = 16;

/**
 * What an `If-Match` asks for: `*` (any current version) or a list of strong ETags. Weak ETags
 * (`W/"…"`) never match, as RFC 9110 §13.1.1 requires of If-Match.
 */
export type IfMatch = { any: true } | { any: false; tags: string[] };

/** Parses an If-Match header; a malformed one is 400 `invalid_input`. */
export function parseIfMatch(header: string | null): IfMatch | null {
  if (header === null) return null;
  const bad = () =>
    new ServiceError("invalid_input", 'If-Match must be * or a list of quoted ETags ("…")', {
      issues: [{ path: "If-Match", message: "invalid" }],
    });
  if (typeof header !== "string" || header.length > MAX_IF_MATCH_CHARS) throw bad();
  const trimmed = header.trim();
  if (trimmed === "*") return { any: true };
  const parts = trimmed.split(",").map((part) => part.trim());
  if (parts.length === 0 || parts.length > MAX_IF_MATCH_TAGS) throw bad();
  const tags: string[] = [];
  for (const part of parts) {
    if (!/^(?:W\/)?"[\x21\x23-\x7e]*"$/.test(part)) throw bad();
    if (!part.startsWith("W/")) tags.push(part);
  }
  return { any: false, tags };
}

/** True when `ifMatch` admits a resource whose current strong ETag is `etag`. */
export function ifMatchAdmits(ifMatch: IfMatch, etag: string): boolean {
  return ifMatch.any || ifMatch.tags.includes(etag);
}
