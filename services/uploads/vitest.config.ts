import { workerProject } from "../../test-support/worker-project";

export default workerProject(import.meta.url, "uploads", { bindings: { UPLOAD_MAX_BYTES: "1048576" } });
