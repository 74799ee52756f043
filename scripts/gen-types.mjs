#!/usr/bin/env node
// `npm run types`: regenerates every worker's worker-configuration.d.ts (its own Env interface, e.g. SiEnv).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ownEnv, typesFlags } from "./types-args.mjs";
import { root, workerDirs } from "./workers.mjs";

const wrangler = join(root, "node_modules", ".bin", "wrangler");
let failed = false;
for (const dir of workerDirs()) {
  const result = spawnSync(wrangler, ["types", ...typesFlags(dir)], {
    cwd: join(root, dir),
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (result.status === 0) {
    const file = join(root, dir, "worker-configuration.d.ts");
    writeFileSync(file, ownEnv(readFileSync(file, "utf8"), dir));
    console.log(`types: wrote ${dir}/worker-configuration.d.ts`);
  } else {
    failed = true;
    console.error(`types: ${dir} failed\n${result.stdout ?? ""}${result.stderr ?? ""}${result.error ?? ""}`);
  }
}
process.exit(failed ? 1 : 0);
