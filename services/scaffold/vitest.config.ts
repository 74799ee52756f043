import { testKeyPair } from "../../scripts/test-keys.mjs";
import { FAKE_PROVIDER_BINDINGS, fakeProvider } from "../../test-support/fake-provider";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Scaffold runs against the real SI (and the workers SI calls) for its graphs; only the AI provider
// is fake, at SI's edge. Rendering needs only this worker's own R2 bucket.
export default workerProject(import.meta.url, "scaffold", {
  aux: [
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "scaffold-test-1",
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
