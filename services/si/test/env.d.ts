declare namespace Cloudflare {
  interface Env {
    /** The billing worker's AccountLedger objects, bound for tests only (vitest.config.ts). */
    TEST_ACCOUNT_LEDGER: DurableObjectNamespace;
  }
}
