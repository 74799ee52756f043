import { testKeyPair } from "../../scripts/test-keys.mjs";
import { FAKE_PROVIDER_BINDINGS, fakeProvider } from "../../test-support/fake-provider";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Jobs run against the real SI, billing, RAG and advisor workers; only the AI provider is fake, at SI's edge.
export default workerProject(import.meta.url, "jobs", {
  bindings: { JOBS_BACKOFF_BASE_SECONDS: "30", JOBS_LEASE_SECONDS: "120" },
  aux: [
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "jobs-test-1",
        DEFAULT_RPM: "100000",
      },
    },
    { dir: "services/si", bindings: FAKE_PROVIDER_BINDINGS, options: { outboundService: fakeProvider } },
    { dir: "services/advisor" },
    { dir: "services/rag" },
    { dir: "services/uploads" },
    // SI, RAG and scaffold read their gates (si.models, rag.hybrid, scaffold.enabled) from it.
    { dir: "services/flags" },
    // A small quota, so a test can fill it; every other test renders once or twice per guest.
    { dir: "services/scaffold", bindings: { SCAFFOLD_QUOTA_COUNT: "3" } },
    // The rollup job writes through it, to the run's PostgreSQL (test-support/database.ts).
    { dir: "services/analytics" },
  ],
});
