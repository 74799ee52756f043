#!/usr/bin/env node
// `npm run build:workers [-- --only <dir>]`: bundles each worker exactly as `wrangler deploy` would
// (offline, --dry-run) into <dir>/dist and prints the sizes Cloudflare would see. The tests load
// auxiliary workers from dist/index.js, so this runs before them.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { root, workerDirs } from "./workers.mjs";

const wrangler = join(root, "node_modules", ".bin", "wrangler");

function selectedDirs(argv) {
  const all = workerDirs();
  if (argv.length === 0) return all;
  const dir = argv[0] === "--only" && argv.length === 2 ? argv[1].replace(/\/+$/, "") : undefined;
  if (dir !== undefined && all.includes(dir)) return [dir];
  console.error(`usage: build-workers.mjs [--only <dir>]  (dir: ${all.join(", ")})`);
  process.exit(2);
}

const rows = [];
let failed = false;
for (const dir of selectedDirs(process.argv.slice(2))) {
  // Absolute: wrangler 4.86 puts the bundle relative to the config's directory but its README
  // relative to the cwd, so a relative outdir splits the build across two places.
  const outdir = join(root, dir, "dist");
  // Wrangler adds to an existing outdir; a stale chunk from an earlier build must not ride along.
  rmSync(outdir, { recursive: true, force: true });
  const result = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "-c", join(dir, "wrangler.jsonc")], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  // Colour codes appear when FORCE_COLOR is set (some CI runners do).
  const sizes = stripVTControlCharacters(output).match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
  if (result.status !== 0 || !sizes) {
    failed = true;
    console.error(`build-workers: ${dir} failed (exit ${result.status ?? result.error})\n${output}`);
    continue;
  }
  rows.push([dir, sizes[1], sizes[2]]);
}

if (rows.length > 0) {
  const table = [["worker", "upload KiB", "gzip KiB"], ...rows];
  const widths = table[0].map((_, column) => Math.max(...table.map((row) => row[column].length)));
  for (const row of table) {
    console.log(
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
        .join("  "),
    );
  }
}
process.exit(failed ? 1 : 0);
