import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Global setup: bundle every worker before the tests run, as the workerd projects' setups do for the
// workers they call, so no build overlaps another project's tests.
export default function buildMesh(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "inherit" });
}
