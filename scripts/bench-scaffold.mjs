#!/usr/bin/env node
// `npm run bench:scaffold`: how long the scaffold worker takes to turn an App Graph into a zipped
// project (the integrity pass, rendering, zipping and hashing: what `render` does before it stores
// the archive), for a 10-entity and a 50-entity graph, inside workerd. Each run is one request to a
// small bench worker built from the real renderer; a no-op request is timed the same way, so the
// round trip's own cost can be told apart. Also prints the archive sizes and the scaffold worker's
// gzip size. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { figure, percentile, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = 20;

/** A graph of `count` entities, each with one field of every plain type and a reference to the one before. */
function graphOf(count) {
  const entities = [];
  const screens = [];
  for (let i = 1; i <= count; i++) {
    const fields = [
      { name: "title", type: "string", required: true },
      { name: "notes", type: "text" },
      { name: "quantity", type: "integer" },
      { name: "price", type: "number" },
      { name: "active", type: "boolean" },
      { name: "dueOn", type: "date" },
      { name: "seenAt", type: "datetime" },
      { name: "contact", type: "email", unique: true },
      { name: "homepage", type: "url" },
      { name: "stage", type: "enum", values: ["new", "open", "closed"] },
      { name: "photo", type: "image" },
    ];
    if (i > 1) fields.push({ name: "parent", type: "reference", ref: `Thing${i - 1}` });
    entities.push({ name: `Thing${i}`, fields });
    screens.push({ id: `things-${i}`, title: `Things ${i}`, kind: "list", entity: `Thing${i}` });
    screens.push({ id: `thing-${i}-form`, title: `New thing ${i}`, kind: "form", entity: `Thing${i}` });
  }
  return { version: 1, name: `Bench ${count}`, entities, screens };
}

execFileSync("node", ["scripts/build-workers.mjs", "--only", "services/scaffold"], { cwd: root, stdio: "ignore" });
const workerGzip = gzipSync(readFileSync(join(root, "services", "scaffold", "dist", "index.js"))).byteLength;

const entry = `
import { parseAppGraph } from "@cognomega/shared";
import { packProject } from "./services/scaffold/src/manifest.ts";
const graphs = new Map();
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const name = url.searchParams.get("graph") ?? "";
    if (url.pathname === "/load") { graphs.set(name, await request.json()); return new Response("ok"); }
    if (url.pathname === "/noop") return new Response("0");
    const packed = await packProject(parseAppGraph(graphs.get(name)));
    return new Response(String(packed.archive.byteLength));
  },
};`;
const bundle = await build({
  stdin: { contents: entry, resolveDir: root, loader: "ts" },
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  write: false,
  logLevel: "error",
});

const mf = new Miniflare({
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
  workers: [
    {
      name: "bench-scaffold",
      modules: true,
      script: bundle.outputFiles[0].text,
      compatibilityDate: "2026-04-21",
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    },
  ],
});
await mf.ready;
const base = await mf.unsafeGetDirectURL("bench-scaffold");

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function call(path, body) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      new URL(path, base),
      { method: body === undefined ? "GET" : "POST", agent, headers: { "content-type": "application/json" } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => (response.statusCode === 200 ? resolve(text) : reject(new Error(text))));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

async function timed(path) {
  let answer = "";
  for (let i = 0; i < WARMUP; i++) answer = await call(path);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    answer = await call(path);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), answer };
}

try {
  const noop = await timed("/noop");
  console.log(`bench:scaffold: ${RUNS} runs each after ${WARMUP} warm-up, one at a time, in workerd`);
  console.log(`round trip of a no-op request: p50 ${noop.p50.toFixed(2)} ms`);
  const figures = [];
  for (const count of [10, 50]) {
    const graph = graphOf(count);
    await call(`/load?graph=${count}`, JSON.stringify(graph));
    const run = await timed(`/render?graph=${count}`);
    const fields = graph.entities.reduce((sum, entity) => sum + entity.fields.length, 0);
    console.log(
      `${count} entities (${fields} fields, ${graph.screens.length} screens): render p50 ${run.p50.toFixed(2)} ms, ` +
        `p99 ${run.p99.toFixed(2)} ms (round trip; minus the no-op p50: ${(run.p50 - noop.p50).toFixed(2)} ms), ` +
        `archive ${(Number(run.answer) / 1024).toFixed(1)} KiB`,
    );
    const p50 = Number(run.p50.toFixed(2));
    figures.push(
      count === 10
        ? figure("10 entities, render p50", p50, "ms", "≤ 20 ms", p50 <= 20)
        : figure(`${count} entities, render p50`, p50, "ms"),
    );
  }
  console.log(`scaffold worker (dist/index.js) gzip: ${(workerGzip / 1024).toFixed(2)} KiB`);
  const gzip = Number((workerGzip / 1024).toFixed(2));
  printResult("scaffold", [...figures, figure("scaffold worker, gzip", gzip, "KiB", "≤ 100 KiB", gzip <= 100)]);
} finally {
  agent.destroy();
  await mf.dispose();
}
