import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { auxWorker } from "../../scripts/aux-workers.mjs";
import { testKeyPair } from "../../scripts/test-keys.mjs";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const signing = testKeyPair();

// SI runs against the real billing and advisor workers. Providers are faked only at their edge:
// a fetch spy for the OpenAI-compatible HTTP APIs and a test double for the AI binding.
export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
      miniflare: {
        bindings: {
          GROQ_API_KEY: "test-groq-key",
          OPENAI_API_KEY: "test-openai-key",
          GROQ_BASE_URL: "https://groq.test/openai/v1",
          OPENAI_BASE_URL: "https://openai.test/v1",
          SI_LATENCY_BUDGET_MS: "5000",
          SI_ATTEMPT_TIMEOUT_MS: "1000",
        },
        workers: [
          auxWorker("services/billing", {
            ENVIRONMENT: "test",
            PRIVATE_KEY_PEM: signing.privateKeyPem,
            KID: "si-test-1",
            DEFAULT_RPM: "100000",
          }),
          auxWorker("services/advisor"),
          auxWorker("services/rag"),
          auxWorker("services/uploads"),
        ],
      },
    }),
  ],
  test: { name: "si", include: ["test/**/*.test.ts"], globalSetup: ["./test/global-setup.ts"] },
});
