import { workerProject } from "../../test-support/worker-project";

// The scaffold worker calls no other worker: its tests need only its own R2 bucket.
export default workerProject(import.meta.url, "scaffold");
