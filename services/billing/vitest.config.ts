import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { testKeyPair } from "../../scripts/test-keys.mjs";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const signing = testKeyPair();

export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
      miniflare: {
        bindings: {
          ENVIRONMENT: "test",
          PRIVATE_KEY_PEM: signing.privateKeyPem,
          KID: "billing-test-1",
          TEST_PUBLIC_KEY_PEM: signing.publicKeyPem,
        },
      },
    }),
  ],
  test: { name: "billing", include: ["test/**/*.test.ts"] },
});
