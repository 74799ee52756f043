// The one place the `wrangler types` flags live: `npm run types` writes with them and the drift
// check in typecheck.mjs regenerates with them, so the two can never disagree.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { stripJsonc } from "./audit-routes.mjs";
import { root, workerDirs } from "./workers.mjs";

const COMMON = ["--env-file", ".dev.vars.example", "--include-runtime=false", "--strict-vars=false"];

function config(dir) {
  return JSON.parse(stripJsonc(readFileSync(join(root, dir, "wrangler.jsonc"), "utf8")));
}

/** Flags after `wrangler types`, to be run with cwd = <root>/<dir>. */
export function typesFlags(dir) {
  // A worker's service bindings are typed as the bound workers' entrypoint classes
  // (Service<typeof import(...).BillingService>); wrangler resolves those only from their configs.
  const bound = new Set((config(dir).services ?? []).map((binding) => binding.service));
  if (bound.size === 0) return COMMON;
  const others = workerDirs().filter((other) => other !== dir && bound.has(config(other).name));
  return [
    ...COMMON,
    "-c",
    "wrangler.jsonc",
    ...others.flatMap((other) => ["-c", `${relative(join(root, dir), join(root, other))}/wrangler.jsonc`]),
  ];
}
