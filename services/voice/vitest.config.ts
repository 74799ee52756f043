import { testKeyPair } from "../../scripts/test-keys.mjs";
import { FAKE_PROVIDER_BINDINGS, fakeProvider } from "../../test-support/fake-provider";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Voice runs against the real billing, SI and uploads workers. Providers are faked only at their
// edge: a fetch spy for Cartesia's HTTP API and a test double for the AI binding.
export default workerProject(import.meta.url, "voice", {
  bindings: {
    CARTESIA_API_KEY: "test-cartesia-key",
    CARTESIA_BASE_URL: "https://cartesia.test",
    VOICE_LATENCY_BUDGET_MS: "5000",
    VOICE_ATTEMPT_TIMEOUT_MS: "1000",
    // Each test's allowance is released when its calls end, so a balance read after them is final.
    VOICE_ALLOWANCE_IDLE_MS: "0",
  },
  aux: [
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "voice-test-1",
        DEFAULT_RPM: "100000",
      },
    },
    {
      dir: "services/si",
      bindings: { ...FAKE_PROVIDER_BINDINGS, SI_ALLOWANCE_IDLE_MS: "0" },
      options: { outboundService: fakeProvider },
    },
    { dir: "services/advisor" },
    { dir: "services/rag" },
    { dir: "services/uploads" },
    // SI, RAG and scaffold read their gates (si.models, rag.hybrid, scaffold.enabled) from it.
    { dir: "services/flags" },
  ],
});
