// Typecheck-only (not a vitest file): this worker's Env holds its own bindings and no other worker's,
// so reaching for another worker's binding fails `npm run typecheck` (each @ts-expect-error must fire).
import { env } from "cloudflare:workers";

export function foreignBindings(own: AdvisorEnv): unknown[] {
  return [
    // @ts-expect-error ACCOUNT_LEDGER is billing's binding
    env.ACCOUNT_LEDGER,
    // @ts-expect-error ACCOUNT_LEDGER is billing's binding
    own.ACCOUNT_LEDGER,
  ];
}
