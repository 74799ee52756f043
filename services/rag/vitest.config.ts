import { testKeyPair } from "../../scripts/test-keys.mjs";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Retrieval runs against the real uploads and billing workers (embeddings are charged through the
// ledger); embeddings and Vectorize are test doubles at the edge (neither has a local mode).
export default workerProject(import.meta.url, "rag", {
  aux: [
    { dir: "services/uploads" },
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "rag-test-1",
        DEFAULT_RPM: "100000",
      },
    },
  ],
});
