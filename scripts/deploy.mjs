#!/usr/bin/env node
// `npm run deploy [-- --dry-run]`: internal workers first, the gateway last, so the gateway never
// goes live bound to a service (or entrypoint) that does not exist yet. Stops at the first failure.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root, workerDirs } from "./workers.mjs";

const argv = process.argv.slice(2);
const dryRun = argv.includes("--dry-run");
if (argv.some((arg) => arg !== "--dry-run")) {
  console.error("usage: deploy.mjs [--dry-run]");
  process.exit(2);
}

const wrangler = join(root, "node_modules", ".bin", "wrangler");
const dirs = workerDirs();
const order = [...dirs.filter((dir) => dir !== "gateway"), "gateway"];
if (dryRun) console.log("deploy: dry run, nothing is uploaded (bundles go to <dir>/dist)");

for (const [index, dir] of order.entries()) {
  const args = ["deploy", "-c", join(dir, "wrangler.jsonc")];
  // Absolute, because wrangler resolves a relative outdir against the config's directory.
  if (dryRun) args.push("--dry-run", "--outdir", join(root, dir, "dist"));
  console.log(`\ndeploy [${index + 1}/${order.length}] ${dir}: wrangler ${args.join(" ")}`);
  const result = spawnSync(wrangler, args, {
    cwd: root,
    stdio: "inherit",
    env: { WRANGLER_SEND_METRICS: "false", ...process.env },
  });
  if (result.status !== 0) {
    const left = order.slice(index + 1);
    console.error(
      `\ndeploy: ${dir} failed (exit ${result.status ?? result.error}); not deployed: ${left.join(", ") || "none"}`,
    );
    process.exit(1);
  }
}
console.log(`\ndeploy: ${dryRun ? "dry run of" : "deployed"} ${order.join(", ")}`);
