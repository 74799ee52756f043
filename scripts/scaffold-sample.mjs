#!/usr/bin/env node
// `node scripts/scaffold-sample.mjs [sample | graph.json] [dir]`: renders one of
// services/scaffold/samples/*.json (default: every-type), or any App Graph file, into dir (default: a
// new temp directory) and prints the directory, so CI can run `npm install && npm test` inside it:
// the generated project's own tests, as a user would.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { root } from "./workers.mjs";

const samples = join(root, "services", "scaffold", "samples");
const names = readdirSync(samples)
  .filter((file) => file.endsWith(".json"))
  .map((file) => file.slice(0, -5));
const [sample = "every-type", target] = process.argv.slice(2);
const graphFile = sample.endsWith(".json") ? resolve(sample) : join(samples, `${sample}.json`);
if (!sample.endsWith(".json") && !names.includes(sample)) {
  console.error(`usage: scaffold-sample.mjs [sample | graph.json] [dir]  (sample: ${names.join(", ")})`);
  process.exit(2);
}

// The renderer is TypeScript; bundle it (and the App Graph check) the way wrangler would, in memory.
const entry = [
  'export { parseAppGraph } from "@cognomega/shared";',
  'export { renderProject } from "./services/scaffold/src/render/index.ts";',
].join("\n");
const bundle = await build({
  stdin: { contents: entry, resolveDir: root, loader: "ts" },
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  write: false,
  logLevel: "error",
});
const code = bundle.outputFiles[0].text;
const { parseAppGraph, renderProject } = await import(
  `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`
);

let graph;
try {
  graph = parseAppGraph(JSON.parse(readFileSync(graphFile, "utf8")));
} catch (error) {
  const issues = error?.details?.issues ?? [];
  console.error(`scaffold-sample: ${graphFile}: ${error.message}`);
  for (const issue of issues) console.error(`  ${issue.path || "(root)"}: ${issue.message}`);
  process.exit(1);
}
const dir = target ? resolve(target) : mkdtempSync(join(tmpdir(), "scaffold-"));
for (const file of renderProject(graph).files) {
  const path = join(dir, file.path);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, file.content);
}
console.log(dir);
