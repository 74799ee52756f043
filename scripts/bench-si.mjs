#!/usr/bin/env node
// `npm run bench:si`: how much latency the full gateway path adds to an AI call. A fake
// OpenAI-compatible provider listens on loopback; the benchmark times the same chat completion
// (1) straight to the fake provider and (2) as POST /api/si/ask through the real mesh (gateway →
// SI → billing holds → provider → settle → advisor), one request at a time, and reports the
// difference at p50 and p99. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { Miniflare } from "miniflare";
import { auxWorker, restOfMesh } from "./aux-workers.mjs";
import { keepAliveAgent, sendJson, startLoopbackProvider } from "./bench-http.mjs";
import { figure, percentile, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const RUNS = Number(process.env.BENCH_REQUESTS ?? 2000);
const WARMUP = 200;

execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "ignore" });

const provider = await startLoopbackProvider();
const providerUrl = provider.url;

const mf = new Miniflare({
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.on("data", (chunk) => process.env.BENCH_DEBUG && process.stderr.write(chunk));
  },
  workers: [
    // The gateway also listens on a socket of its own, as it does in production: requests to it
    // skip Miniflare's development entry worker (a router the deployed mesh does not have).
    auxWorker(
      "gateway",
      { ADMIN_KEY: "bench-admin", ALLOWED_ORIGINS: "" },
      { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] },
    ),
    auxWorker("services/billing", { ENVIRONMENT: "development", DEFAULT_RPM: "1000000", GUEST_CREDITS: "1000" }),
    auxWorker("services/si", {
      GROQ_API_KEY: "bench-key",
      GROQ_BASE_URL: providerUrl,
      // e.g. BENCH_SI_VARS='{"SI_SETTLE_BATCH_MS":"0"}' to compare settings.
      ...JSON.parse(process.env.BENCH_SI_VARS ?? "{}"),
    }),
    // The gateway binds every service; the ones this benchmark does not set up only have to start.
    ...restOfMesh(["gateway", "services/billing", "services/si"]),
  ],
});

// One keep-alive client for every path.
const agent = keepAliveAgent(1);
const post = (url, body, bearer) => sendJson(agent, url, { body, headers: { authorization: `Bearer ${bearer}` } });

/**
 * Times every path once per round, round after round, so that all of them see the same machine
 * conditions (the benchmark, the fake provider and workerd share the cores).
 */
async function timeInterleaved(rounds, paths) {
  const latencies = paths.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [index, once] of paths.entries()) {
      const started = performance.now();
      await once();
      latencies[index].push(performance.now() - started);
    }
  }
  return latencies.map((list) => list.sort((a, b) => a - b));
}

try {
  const entry = await mf.ready;
  const gatewaySocket = await mf.unsafeGetDirectURL("cognomega-api");
  const { token } = await (await fetch(new URL("/auth/guest", entry), { method: "POST" })).json();
  const chat = JSON.stringify({
    model: "openai/gpt-oss-20b",
    messages: [{ role: "user", content: "Reply with ok." }],
    max_tokens: 8,
  });
  const ask = JSON.stringify({ prompt: "Reply with ok.", model: "groq/gpt-oss-20b", max_tokens: 8 });
  const direct = async () => {
    const { status } = await post(new URL(`${providerUrl}/chat/completions`), chat, "bench-key");
    if (status !== 200) throw new Error(`provider answered ${status}`);
  };
  const askAt = (base) => async () => {
    const { status, body } = await post(new URL("/api/si/ask", base), ask, token);
    if (status !== 200) throw new Error(`ask failed: ${status} ${body}`);
  };
  // BENCH_VIA_ENTRY=1 also times the same ask through Miniflare's entry worker, for comparison.
  const paths = [direct, askAt(gatewaySocket), ...(process.env.BENCH_VIA_ENTRY ? [askAt(entry)] : [])];
  await timeInterleaved(WARMUP, paths);
  const [d, g, e] = await timeInterleaved(RUNS, paths);
  const at = (sorted, p) => percentile(sorted, p).toFixed(2).padStart(7);
  const row = (label, sorted) => `${label.padEnd(52)} p50 ${at(sorted, 50)} ms   p99 ${at(sorted, 99)} ms`;
  const added = (sorted) =>
    `p50 ${(percentile(sorted, 50) - percentile(d, 50)).toFixed(2)} ms, p99 ${(percentile(sorted, 99) - percentile(d, 99)).toFixed(2)} ms`;
  console.log(
    `SI latency benchmark: ${RUNS} sequential rounds (after ${WARMUP} warm-up), each path once per round, node ${process.version}`,
  );
  console.log(row("fake provider, direct", d));
  console.log(row("POST /api/si/ask, gateway's own socket", g));
  if (e) console.log(row("POST /api/si/ask, through Miniflare's dev entry", e));
  console.log(`added by the gateway path: ${added(g)}   (targets: p50 ≤ 1 ms, p99 ≤ 5 ms)`);
  if (e) console.log(`added with Miniflare's dev entry in front: ${added(e)}`);
  const addedP50 = Number((percentile(g, 50) - percentile(d, 50)).toFixed(2));
  const addedP99 = Number((percentile(g, 99) - percentile(d, 99)).toFixed(2));
  printResult("si", [
    figure("added p50", addedP50, "ms", "≤ 1 ms", addedP50 <= 1),
    figure("added p99", addedP99, "ms", "≤ 5 ms", addedP99 <= 5),
  ]);
} finally {
  await mf.dispose();
  await provider.close();
}
