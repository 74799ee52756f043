import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { auxWorker } from "../../scripts/aux-workers.mjs";
import { testKeyPair } from "../../scripts/test-keys.mjs";
import { fakeProvider } from "../../test-support/fake-provider";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const signing = testKeyPair();

// Jobs run against the real SI, billing and advisor workers; only the AI provider is fake, at SI's edge.
export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
      miniflare: {
        bindings: { JOBS_BACKOFF_BASE_SECONDS: "30", JOBS_LEASE_SECONDS: "120" },
        workers: [
          auxWorker("services/billing", {
            ENVIRONMENT: "test",
            PRIVATE_KEY_PEM: signing.privateKeyPem,
            KID: "jobs-test-1",
            DEFAULT_RPM: "100000",
          }),
          auxWorker(
            "services/si",
            {
              GROQ_API_KEY: "test-groq-key",
              OPENAI_API_KEY: "test-openai-key",
              GROQ_BASE_URL: "https://groq.test/openai/v1",
              OPENAI_BASE_URL: "https://openai.test/v1",
            },
            { outboundService: fakeProvider },
          ),
          auxWorker("services/advisor"),
          auxWorker("services/rag"),
          auxWorker("services/uploads"),
        ],
      },
    }),
  ],
  test: { name: "jobs", include: ["test/**/*.test.ts"], globalSetup: ["./test/global-setup.ts"] },
});
