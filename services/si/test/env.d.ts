// `env` from cloudflare:workers is Cloudflare.Env; only this worker's program gives it SiEnv, so the
// other workers' programs (which include this worker's generated file) never see these bindings.
declare namespace Cloudflare {
  interface Env extends SiEnv {
    /** The billing worker's AccountLedger objects, bound for tests only (vitest.config.ts). */
    TEST_ACCOUNT_LEDGER: DurableObjectNamespace;
  }
}
