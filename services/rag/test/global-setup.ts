import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Bundles the worker RAG reads uploads from (auxiliary workers take built JS).
export default function buildAuxiliaryWorkers(): void {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  execFileSync("node", ["scripts/build-workers.mjs", "--only", "services/uploads"], { cwd: root, stdio: "inherit" });
}
