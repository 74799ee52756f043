import { testKeyPair } from "../../scripts/test-keys.mjs";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Retrieval runs against the real uploads and billing workers (embeddings are charged through the
// ledger); embeddings and Vectorize are test doubles at the edge (neither has a local mode).
export default workerProject(import.meta.url, "rag", {
  // Gates read the flag set afresh on every call, so a test sees an override it just wrote.
  bindings: { FLAGS_CACHE_TTL_SECONDS: "0" },
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
    // `rag.hybrid` comes from the real flags worker.
    { dir: "services/flags" },
  ],
});
