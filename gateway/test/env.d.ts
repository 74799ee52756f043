// `env` from cloudflare:workers is Cloudflare.Env; only this worker's program gives it GatewayEnv, so the
// other workers' programs (which include this worker's generated file) never see these bindings.
declare namespace Cloudflare {
  interface Env extends GatewayEnv {
    /** The private half of the key the billing worker signs with in tests (made per run). */
    TEST_PRIVATE_KEY_PEM: string;
    TEST_PUBLIC_KEY_PEM: string;
    TEST_KID: string;
  }
}
