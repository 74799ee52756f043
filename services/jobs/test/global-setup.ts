import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Bundles the workers jobs call (auxiliary workers take built JS).
export default function buildAuxiliaryWorkers(): void {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  for (const dir of ["services/billing", "services/si", "services/advisor", "services/rag", "services/uploads"]) {
    execFileSync("node", ["scripts/build-workers.mjs", "--only", dir], { cwd: root, stdio: "inherit" });
  }
}
