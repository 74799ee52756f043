declare namespace Cloudflare {
  interface Env {
    /** The private half of the key the billing worker signs with in tests (made per run). */
    TEST_PRIVATE_KEY_PEM: string;
    TEST_PUBLIC_KEY_PEM: string;
    TEST_KID: string;
  }
}
