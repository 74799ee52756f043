#!/usr/bin/env node
// `npm run bench:flags`: what the flags path costs. (1) Throughput of one bulk OFREP evaluation of
// 50 flags (`POST /ofrep/v1/evaluate/flags` through the real mesh: token check, the isolate's flag
// set, 50 evaluations, the answer) against a bare worker in the same workerd answering the same
// JSON bytes, as requests per second at the same concurrency; target ratio ≥ 0.5. (2) One flag
// evaluated in-isolate by the shared engine (what a gate costs once the set is cached); target
// ≤ 20 µs. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { auxWorker, restOfMesh } from "./aux-workers.mjs";
import { benchFlags, BENCH_FLAG_COUNT as FLAG_COUNT } from "./bench-flag-set.mjs";
import { keepAliveAgent, sendJson } from "./bench-http.mjs";
import { figure, median, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const ROUNDS = 3;
const EVALUATIONS = Number(process.env.BENCH_EVALUATIONS ?? 200_000);
const ADMIN = "bench-admin";

// One keep-alive pool for both paths, so what differs is only what answers.
const agent = keepAliveAgent(CONCURRENCY);
const send = (url, options) => sendJson(agent, url, options);

/** Requests per second for `count` calls of `once`, `CONCURRENCY` in flight. */
async function throughput(count, once) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next += 1;
        await once();
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** The shared engine, bundled for Node from the TypeScript the workers use. */
async function sharedEngine() {
  const dir = mkdtempSync(join(tmpdir(), "bench-flags-"));
  const outfile = join(dir, "shared.mjs");
  await build({
    entryPoints: [join(root, "shared/src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    mainFields: ["module", "main"],
    outfile,
    logLevel: "silent",
  });
  try {
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Microseconds per evaluation of one flag with two targeting rules and a rollout. */
async function inIsolate() {
  const { evaluateFlag } = await sharedEngine();
  const definition = {
    key: "bench.one",
    type: "string",
    variants: { a: "alpha", b: "beta", c: "gamma" },
    default_variant: "a",
    enabled: true,
    rules: [
      { when: [{ attribute: "email_domain", op: "ends_with", value: ".invalid" }], variant: "c" },
      { when: [{ attribute: "country", op: "in", value: ["DE", "FR", "NL", "US"] }], variant: "b" },
      {
        rollout: [
          { variant: "a", weight: 50 },
          { variant: "b", weight: 30 },
          { variant: "c", weight: 20 },
        ],
      },
    ],
    description: "",
    version: "1",
    updated_at: new Date().toISOString(),
    updated_by: "bench",
  };
  const set = { version: "1", flags: { "bench.one": { definition, overrides: { "guest:someone": "c" } } } };
  const contexts = Array.from({ length: 1000 }, (_, i) => ({
    targetingKey: `guest:${i.toString(16).padStart(8, "0")}-bench`,
    email_domain: "example.com",
    country: "JP",
    account_age_days: i % 90,
  }));
  let sink = 0;
  const run = (n) => {
    for (let i = 0; i < n; i++) {
      const evaluation = evaluateFlag(set, "bench.one", contexts[i % contexts.length], "string");
      if ("variant" in evaluation && evaluation.variant === "b") sink += 1;
    }
  };
  run(20_000);
  const started = process.hrtime.bigint();
  run(EVALUATIONS);
  const microseconds = Number(process.hrtime.bigint() - started) / 1000 / EVALUATIONS;
  return { microseconds, sink };
}

execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "ignore" });

const mf = new Miniflare({
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.on("data", (chunk) => process.env.BENCH_DEBUG && process.stderr.write(chunk));
  },
  workers: [
    // The gateway listens on a socket of its own, as in production (no Miniflare entry router).
    auxWorker(
      "gateway",
      { ADMIN_KEY: ADMIN, ALLOWED_ORIGINS: "" },
      { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] },
    ),
    auxWorker("services/billing", { ENVIRONMENT: "development", DEFAULT_RPM: "1000000" }),
    // The gateway binds every service; the ones this benchmark does not set up only have to start.
    ...restOfMesh(["gateway", "services/billing"]),
    // The baseline: a worker in the same workerd that answers what it was given, and nothing else.
    {
      name: "bench-bare-json",
      modules: true,
      script: `let body = "{}";
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/set") body = await request.text();
    else await request.arrayBuffer();
    return new Response(body, { headers: { "Content-Type": "application/json" } });
  },
};`,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    },
  ],
});

try {
  const entry = await mf.ready;
  const gateway = await mf.unsafeGetDirectURL("cognomega-api");
  const bare = await mf.unsafeGetDirectURL("bench-bare-json");
  for (const [key, definition] of benchFlags()) {
    const put = await send(new URL(`/api/admin/flags/${key}`, gateway), {
      method: "PUT",
      body: JSON.stringify(definition),
      headers: { "x-admin-key": ADMIN },
    });
    if (put.status !== 200 && put.status !== 201) throw new Error(`PUT ${key} answered ${put.status}: ${put.body}`);
  }
  const { token } = await (await fetch(new URL("/auth/guest", entry), { method: "POST" })).json();
  const evaluate = JSON.stringify({ context: { plan: "pro" } });
  const bulkUrl = new URL("/ofrep/v1/evaluate/flags", gateway);
  const headers = { authorization: `Bearer ${token}` };
  const first = await send(bulkUrl, { body: evaluate, headers });
  const answer = JSON.parse(first.body);
  if (first.status !== 200) throw new Error(`bulk evaluation answered ${first.status}: ${first.body}`);
  const evaluated = answer.flags.filter((flag) => flag.key.startsWith("bench.")).length;
  if (evaluated !== FLAG_COUNT) throw new Error(`bulk evaluation carried ${evaluated} bench flags, not ${FLAG_COUNT}`);
  await send(new URL("/set", bare), { body: first.body });

  const viaGateway = async () => {
    const { status } = await send(bulkUrl, { body: evaluate, headers });
    if (status !== 200) throw new Error(`bulk evaluation answered ${status}`);
  };
  const bareJson = async () => {
    const { status } = await send(bare, { body: evaluate });
    if (status !== 200) throw new Error(`bare worker answered ${status}`);
  };
  await throughput(200, viaGateway);
  await throughput(200, bareJson);
  const gatewayRates = [];
  const bareRates = [];
  // Alternating rounds, so both paths see the same machine conditions.
  for (let round = 0; round < ROUNDS; round++) {
    bareRates.push(await throughput(REQUESTS, bareJson));
    gatewayRates.push(await throughput(REQUESTS, viaGateway));
  }
  const g = median(gatewayRates);
  const b = median(bareRates);
  const { microseconds } = await inIsolate();
  console.log(
    `Flags benchmark: ${ROUNDS} alternating rounds of ${REQUESTS} requests per path, ${CONCURRENCY} in flight, node ${process.version}`,
  );
  console.log(`bare JSON worker (${Buffer.byteLength(first.body)} bytes)        ${b.toFixed(0).padStart(7)} req/s`);
  console.log(`POST /ofrep/v1/evaluate/flags, ${FLAG_COUNT} flags     ${g.toFixed(0).padStart(7)} req/s`);
  console.log(`ratio gateway / bare: ${(g / b).toFixed(2)}   (target ≥ 0.5)`);
  console.log(
    `in-isolate evaluation of one flag (3 rules, rollout): ${microseconds.toFixed(2)} µs over ${EVALUATIONS} evaluations   (target ≤ 20 µs)`,
  );
  const ratio = Number((g / b).toFixed(2));
  const evaluation = Number(microseconds.toFixed(2));
  printResult("flags", [
    figure(`bulk OFREP, ${CONCURRENCY} in flight: req/s, gateway / bare JSON`, ratio, "×", "≥ 0.5", ratio >= 0.5),
    figure("one flag evaluated in-isolate", evaluation, "µs", "≤ 20 µs", evaluation <= 20),
  ]);
} finally {
  await mf.dispose();
}
