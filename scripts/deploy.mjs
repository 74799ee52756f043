#!/usr/bin/env node
// `npm run deploy [-- --dry-run]`: every worker after the workers it binds (so none goes live bound
// to a service or entrypoint that does not exist yet), which puts the gateway last. Stops at the
// first failure.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { stripJsonc } from "./audit-routes.mjs";
import { root, workerDirs } from "./workers.mjs";

const argv = process.argv.slice(2);
const dryRun = argv.includes("--dry-run");
if (argv.some((arg) => arg !== "--dry-run")) {
  console.error("usage: deploy.mjs [--dry-run]");
  process.exit(2);
}

const wrangler = join(root, "node_modules", ".bin", "wrangler");
/** Worker dirs ordered so that each comes after every worker it binds (a topological sort). */
export function deployOrder(dirs) {
  const configs = new Map(
    dirs.map((dir) => [dir, JSON.parse(stripJsonc(readFileSync(join(root, dir, "wrangler.jsonc"), "utf8")))]),
  );
  const byName = new Map([...configs].map(([dir, config]) => [config.name, dir]));
  const order = [];
  const state = new Map();
  const visit = (dir, path) => {
    if (state.get(dir) === "done") return;
    if (state.get(dir) === "visiting") throw new Error(`service bindings form a cycle: ${[...path, dir].join(" → ")}`);
    state.set(dir, "visiting");
    for (const binding of configs.get(dir).services ?? []) {
      const bound = byName.get(binding.service);
      if (bound) visit(bound, [...path, dir]);
    }
    state.set(dir, "done");
    order.push(dir);
  };
  for (const dir of [...dirs].sort((a, b) => (a === "gateway") - (b === "gateway") || a.localeCompare(b)))
    visit(dir, []);
  return order;
}

const order = deployOrder(workerDirs());
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
