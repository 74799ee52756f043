import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Bundles the workers SI calls (auxiliary workers take built JS).
export default function buildAuxiliaryWorkers(): void {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  for (const dir of ["services/billing", "services/advisor", "services/rag", "services/uploads"]) {
    execFileSync("node", ["scripts/build-workers.mjs", "--only", dir], { cwd: root, stdio: "inherit" });
  }
}
