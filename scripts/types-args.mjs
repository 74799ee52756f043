// The one place the `wrangler types` flags live: `npm run types` writes with them and the drift
// check in typecheck.mjs regenerates with them, so the two can never disagree.
import { workerDirs } from "./workers.mjs";

const COMMON = ["--env-file", ".dev.vars.example", "--include-runtime=false", "--strict-vars=false"];

/** Flags after `wrangler types`, to be run with cwd = <root>/<dir>. */
export function typesFlags(dir) {
  if (dir !== "gateway") return COMMON;
  // The gateway's service bindings are typed as the services' entrypoint classes
  // (Service<typeof import(...).BillingService>); wrangler resolves those only from their configs.
  const services = workerDirs().filter((other) => other !== "gateway");
  return [...COMMON, "-c", "wrangler.jsonc", ...services.flatMap((service) => ["-c", `../${service}/wrangler.jsonc`])];
}
