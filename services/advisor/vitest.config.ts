import { workerProject } from "../../test-support/worker-project";

// The advisor has no secrets and no storage: the tests run on the vars from wrangler.jsonc and
// override them per test where a threshold matters.
export default workerProject(import.meta.url, "advisor");
