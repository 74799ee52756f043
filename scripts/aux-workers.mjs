// Vitest configs run other workers of the mesh as auxiliary workers: built JS (test global setups
// build it), with the bindings of their own wrangler.jsonc plus test overrides.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { stripJsonc } from "./audit-routes.mjs";
import { root, workerDirs } from "./workers.mjs";

/** Names of the Hyperdrive bindings (PostgreSQL) in the wrangler config at `configPath`. */
export function hyperdriveBindings(configPath) {
  const { hyperdrive } = JSON.parse(stripJsonc(readFileSync(configPath, "utf8")));
  return (hyperdrive ?? []).map((binding) => binding.binding);
}

/**
 * Runs `read` with wrangler logging errors only. Reading a config warns once per AI or Vectorize
 * binding that it is remote; those are the bindings auxWorker drops, so the warnings say nothing
 * here. Set for this synchronous call alone: a process-wide WRANGLER_LOG would reach the wrangler
 * builds scripts/build-workers.mjs runs, which read wrangler's "Total Upload" line.
 */
function quietly(read) {
  const before = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error";
  try {
    return read();
  } finally {
    if (before === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = before;
  }
}

/**
 * Miniflare options for the worker in `dir` (e.g. "services/billing"), from its dist/ build.
 * Remote-only bindings (Workers AI, Vectorize) are dropped: offline, the worker sees them as not
 * configured.
 */
export function auxWorker(dir, bindings = {}, extra = {}) {
  const configPath = join(root, dir, "wrangler.jsonc");
  const { name } = JSON.parse(stripJsonc(readFileSync(configPath, "utf8")));
  const { workerOptions } = quietly(() => unstable_getMiniflareWorkerOptions(configPath));
  const { ai: _ai, vectorize: _vectorize, ...options } = workerOptions;
  return {
    ...options,
    name,
    modules: true,
    scriptPath: join(root, dir, "dist", "index.js"),
    modulesRoot: join(root, dir, "dist"),
    bindings: { ...workerOptions.bindings, ...bindings },
    ...extra,
  };
}

/**
 * Miniflare options, with their own bindings, for every worker of the mesh not in `configured` (the
 * ones a benchmark sets up itself): the gateway binds them all, so all must start, and a worker
 * added later is included without editing each script.
 */
export function restOfMesh(configured) {
  return workerDirs()
    .filter((dir) => !configured.includes(dir))
    .map((dir) => auxWorker(dir));
}
