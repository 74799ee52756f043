import { workerProject } from "../../test-support/worker-project";

// Retrieval runs against the real uploads worker; embeddings and Vectorize are test doubles at the
// edge (neither has a local mode).
export default workerProject(import.meta.url, "rag", { aux: [{ dir: "services/uploads" }] });
