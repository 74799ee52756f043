import { ServiceError } from "@cognomega/shared";
import { GATEWAY_SETTINGS } from "../settings";

/** The outcome of looking at a request's admin headers. */
export type AdminCheck = "valid" | "missing" | "invalid" | "unconfigured";

const encoder = new TextEncoder();
let configuredFrom: string | undefined;
let configuredDigests: Promise<ArrayBuffer[]> = Promise.resolve([]);

function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

// Hash the configured keys once per isolate (per distinct pair of values), not per request.
function configuredKeyDigests(current: string, previous: string): Promise<ArrayBuffer[]> {
  const source = `${current}\n${previous}`;
  if (source !== configuredFrom) {
    configuredFrom = source;
    configuredDigests = Promise.all([current, previous].filter((key) => key.length > 0).map(digest));
  }
  return configuredDigests;
}

/**
 * Checks `X-Admin-Key` (or `X-Admin-Token`) against `ADMIN_KEY` and `ADMIN_KEY_PREVIOUS`.
 * Both sides are hashed first so the comparison is constant-time and length-independent, and
 * every configured key is compared so timing does not tell which one matched.
 */
export async function checkAdmin(request: Request, env: GatewayEnv): Promise<AdminCheck> {
  const provided = request.headers.get("X-Admin-Key") ?? request.headers.get("X-Admin-Token");
  const settings = GATEWAY_SETTINGS.read(env);
  const current = settings.ADMIN_KEY ?? "";
  if (!current) return provided === null ? "missing" : "unconfigured";
  if (provided === null || provided === "") return "missing";
  const [candidate, configured] = await Promise.all([
    digest(provided),
    configuredKeyDigests(current, settings.ADMIN_KEY_PREVIOUS ?? ""),
  ]);
  let match = false;
  for (const known of configured) {
    if (crypto.subtle.timingSafeEqual(candidate, known)) match = true;
  }
  return match ? "valid" : "invalid";
}

/** Throws the right problem unless the admin check passed. */
export function assertAdmin(check: AdminCheck, env: GatewayEnv): void {
  if (check === "valid") return;
  if (GATEWAY_SETTINGS.read(env).ADMIN_KEY === undefined)
    throw new ServiceError("not_configured", "admin routes are disabled: ADMIN_KEY is not set");
  if (check === "missing")
    throw new ServiceError("unauthenticated", "admin key required (X-Admin-Key or X-Admin-Token)");
  throw new ServiceError("forbidden", "admin key not accepted");
}
