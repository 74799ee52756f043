// Typecheck-only (not a vitest file): this worker's Env holds its own bindings and no other worker's,
// so reaching for another worker's binding fails `npm run typecheck` (each @ts-expect-error must fire).
import { env } from "cloudflare:workers";

export function foreignBindings(own: AnalyticsEnv): unknown[] {
  return [
    // @ts-expect-error KV_BILLING is billing's binding
    env.KV_BILLING,
    // @ts-expect-error R2_UPLOADS is the uploads worker's binding
    own.R2_UPLOADS,
  ];
}
