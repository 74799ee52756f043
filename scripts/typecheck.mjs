#!/usr/bin/env node
// `npm run typecheck`: tsc over shared and every worker, then a check that each committed
// worker-configuration.d.ts still matches its wrangler.jsonc and .dev.vars.example.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ownEnv, typesFlags } from "./types-args.mjs";
import { root, workerDirs } from "./workers.mjs";

const bin = (name) => join(root, "node_modules", ".bin", name);
const failures = [];

// tsconfig.node.json covers what runs in Node (vitest configs, global setups).
for (const dir of ["shared", ...workerDirs(), "tsconfig.node.json"]) {
  console.log(`typecheck: tsc -p ${dir}`);
  const result = spawnSync(bin("tsc"), ["-p", dir], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) failures.push(`tsc -p ${dir}`);
}

// Not `wrangler types --check`: in wrangler 4.86 it drops --env-file when it regenerates, so
// the secrets from .dev.vars.example go missing and every file reads as stale
// (cloudflare/workers-sdk#13679, fixed after 4.86, whose successors need Node 22). Instead the
// types are generated beside the real file (same directory, so import paths match) and compared.
const stale = [];
for (const dir of workerDirs()) {
  const cwd = join(root, dir);
  const scratch = `.worker-configuration.check-${process.pid}.d.ts`;
  try {
    const result = spawnSync(bin("wrangler"), ["types", scratch, ...typesFlags(dir)], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    if (result.status !== 0) {
      console.error(`${result.stdout ?? ""}${result.stderr ?? ""}${result.error ?? ""}`);
      failures.push(`wrangler types in ${dir}`);
      continue;
    }
    // The header records the command; make it the one `npm run types` runs, without the scratch path.
    const expected = ownEnv(
      readFileSync(join(cwd, scratch), "utf8").replace(
        /running `[^`]*`/,
        `running \`wrangler types ${typesFlags(dir).join(" ")}\``,
      ),
      dir,
    );
    const committed = join(cwd, "worker-configuration.d.ts");
    if (!existsSync(committed) || readFileSync(committed, "utf8") !== expected)
      stale.push(`${dir}/worker-configuration.d.ts`);
  } finally {
    rmSync(join(cwd, scratch), { force: true });
  }
}
if (stale.length > 0) {
  console.error(
    `typecheck: generated Env types are out of date:\n  ${stale.join("\n  ")}\nRun \`npm run types\` and commit the result.`,
  );
  failures.push("generated types");
} else {
  console.log(`typecheck: generated Env types are current (${workerDirs().length} workers)`);
}

if (failures.length > 0) {
  console.error(`typecheck: failed: ${failures.join(", ")}`);
  process.exit(1);
}
console.log("typecheck: ok");
