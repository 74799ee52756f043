import { workerProject } from "../../test-support/worker-project";

export default workerProject(import.meta.url, "flags");
