import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

// Global setup of every worker project with auxiliary workers: bundle each one it calls.
export default function buildAuxiliaryWorkers(project: TestProject): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  for (const dir of project.getProvidedContext().auxDirs) {
    execFileSync("node", ["scripts/build-workers.mjs", "--only", dir], { cwd: root, stdio: "inherit" });
  }
}
