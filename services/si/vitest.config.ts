import { testKeyPair } from "../../scripts/test-keys.mjs";
import { FAKE_PROVIDER_BINDINGS } from "../../test-support/fake-provider";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// SI runs against the real billing, advisor and RAG workers. Providers are faked only at their edge:
// a fetch spy for the OpenAI-compatible HTTP APIs and a test double for the AI binding.
export default workerProject(import.meta.url, "si", {
  // Allowances are released as soon as a test's calls are done, so each test sees its ledger settled.
  bindings: {
    ...FAKE_PROVIDER_BINDINGS,
    SI_LATENCY_BUDGET_MS: "5000",
    SI_ATTEMPT_TIMEOUT_MS: "1000",
    SI_ALLOWANCE_IDLE_MS: "0",
  },
  // Tests reach the billing worker's ledger objects directly only to move their clock (see
  // AccountLedger.pruneAsOf); SI itself talks to billing over BILLING alone.
  miniflare: {
    durableObjects: { TEST_ACCOUNT_LEDGER: { className: "AccountLedger", scriptName: "cognomega-billing" } },
  },
  aux: [
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "si-test-1",
        DEFAULT_RPM: "100000",
      },
    },
    { dir: "services/advisor" },
    { dir: "services/rag" },
    { dir: "services/uploads" },
    // SI, RAG and scaffold read their gates (si.models, rag.hybrid, scaffold.enabled) from it.
    { dir: "services/flags" },
  ],
});
