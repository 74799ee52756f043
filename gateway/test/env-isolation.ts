// Typecheck-only (not a vitest file): this worker's Env holds its own bindings and no other worker's,
// so reaching for another worker's binding fails `npm run typecheck` (each @ts-expect-error must fire).
import { env } from "cloudflare:workers";

export function foreignBindings(own: GatewayEnv): unknown[] {
  return [
    // @ts-expect-error KV_BILLING is billing's binding
    env.KV_BILLING,
    // @ts-expect-error KV_BILLING is billing's binding
    own.KV_BILLING,
    // @ts-expect-error ACCOUNT_LEDGER is billing's binding
    env.ACCOUNT_LEDGER,
    // @ts-expect-error ACCOUNT_LEDGER is billing's binding
    own.ACCOUNT_LEDGER,
    // A service binding is typed by its entrypoint class (not `any`), so an unknown method fails too.
    // @ts-expect-error BillingService has no such method
    own.BILLING.noSuchMethod,
    // @ts-expect-error SiService has no such method
    own.SI.noSuchMethod,
  ];
}
