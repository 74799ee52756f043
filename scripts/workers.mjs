// The mesh's workers, found on disk: the gateway first (it serves the port), then every service.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

export const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Directories (relative to the root) of every worker, gateway first. */
export function workerDirs() {
  const services = readdirSync(join(root, "services"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, "services", entry.name, "wrangler.jsonc")))
    .map((entry) => `services/${entry.name}`)
    .sort();
  return ["gateway", ...services];
}
