import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { auxWorker } from "../scripts/aux-workers.mjs";
import { testKeyPair } from "../scripts/test-keys.mjs";
import { fakeProvider } from "../test-support/fake-provider";

// The gateway is tested against the real internal workers, built by test/global-setup.ts and run as
// auxiliary workers with the bindings of their own wrangler.jsonc. Only the AI providers are fake:
// SI's outbound HTTP goes to a fake OpenAI-compatible server (test-support/fake-provider.ts).
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
          ADMIN_KEY: "test-admin-key-current",
          ADMIN_KEY_PREVIOUS: "test-admin-key-previous",
          ALLOWED_ORIGINS: "https://app.example.com, http://localhost:5173",
          MAX_JSON_BYTES: "4096",
          TEST_PRIVATE_KEY_PEM: signing.privateKeyPem,
          TEST_PUBLIC_KEY_PEM: signing.publicKeyPem,
          TEST_KID: "gateway-test-1",
        },
        workers: [
          auxWorker("services/billing", {
            ENVIRONMENT: "test",
            PRIVATE_KEY_PEM: signing.privateKeyPem,
            KID: "gateway-test-1",
          }),
          auxWorker(
            "services/si",
            {
              GROQ_API_KEY: "test-groq-key",
              OPENAI_API_KEY: "test-openai-key",
              GROQ_BASE_URL: "https://groq.test/openai/v1",
              OPENAI_BASE_URL: "https://openai.test/v1",
              SI_ATTEMPT_TIMEOUT_MS: "2000",
            },
            { outboundService: fakeProvider },
          ),
          auxWorker("services/advisor"),
          auxWorker("services/jobs"),
          auxWorker("services/uploads", { UPLOAD_MAX_BYTES: "262144" }),
          auxWorker("services/rag"),
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
