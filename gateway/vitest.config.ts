import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { testKeyPair } from "../scripts/test-keys.mjs";

// The gateway is tested against the real billing worker, built by test/global-setup.ts and run as
// an auxiliary worker with the bindings of its own wrangler.jsonc.
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const billingConfig = here("../services/billing/wrangler.jsonc");
const billing = unstable_getMiniflareWorkerOptions(billingConfig).workerOptions;
const signing = testKeyPair();

const TEST_ADMIN_KEY = "test-admin-key-current";
const TEST_ADMIN_KEY_PREVIOUS = "test-admin-key-previous";

export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
      miniflare: {
        bindings: {
          ADMIN_KEY: TEST_ADMIN_KEY,
          ADMIN_KEY_PREVIOUS: TEST_ADMIN_KEY_PREVIOUS,
          ALLOWED_ORIGINS: "https://app.example.com, http://localhost:5173",
          MAX_JSON_BYTES: "4096",
          TEST_PRIVATE_KEY_PEM: signing.privateKeyPem,
          TEST_PUBLIC_KEY_PEM: signing.publicKeyPem,
          TEST_KID: "gateway-test-1",
        },
        workers: [
          {
            ...billing,
            name: "cognomega-billing",
            modules: true,
            scriptPath: here("../services/billing/dist/index.js"),
            modulesRoot: here("../services/billing/dist"),
            bindings: {
              ...billing.bindings,
              ENVIRONMENT: "test",
              PRIVATE_KEY_PEM: signing.privateKeyPem,
              KID: "gateway-test-1",
            },
          },
        ],
      },
    }),
  ],
  test: {
    name: "gateway",
    include: ["test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
  },
});
