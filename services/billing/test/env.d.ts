declare namespace Cloudflare {
  interface Env {
    /** The public half of the test signing key (made per run by vitest.config.ts). */
    TEST_PUBLIC_KEY_PEM: string;
  }
}
