// `env` from cloudflare:workers is Cloudflare.Env; only this worker's program gives it BillingEnv, so the
// other workers' programs (which include this worker's generated file) never see these bindings.
declare namespace Cloudflare {
  interface Env extends BillingEnv {
    /** The public half of the test signing key (made per run by vitest.config.ts). */
    TEST_PUBLIC_KEY_PEM: string;
  }
}
