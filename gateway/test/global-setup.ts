import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Bundles every internal worker the gateway tests bind to (auxiliary workers take built JS).
export default function buildAuxiliaryWorkers(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  for (const dir of [
    "services/billing",
    "services/si",
    "services/advisor",
    "services/jobs",
    "services/uploads",
    "services/rag",
  ]) {
    execFileSync("node", ["scripts/build-workers.mjs", "--only", dir], { cwd: root, stdio: "inherit" });
  }
}
