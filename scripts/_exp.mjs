#!/usr/bin/env node
// `npm run bench:si`: how much latency the full gateway path adds to an AI call. A fake
// OpenAI-compatible provider listens on loopback; the benchmark times the same chat completion
// (1) straight to the fake provider and (2) as POST /api/si/ask through the real mesh (gateway →
// SI → billing holds → provider → settle → advisor), one request at a time, and reports the
// difference at p50 and p99. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { Miniflare } from "miniflare";
import { auxWorker } from "./aux-workers.mjs";
import { root } from "./workers.mjs";

const RUNS = Number(process.env.BENCH_REQUESTS ?? 2000);
const WARMUP = 200;

execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "ignore" });

const answer = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 20, completion_tokens: 1, total_tokens: 21 },
});
const provider = createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) });
    response.end(answer);
  });
});
await new Promise((resolve) => provider.listen(0, "127.0.0.1", resolve));
const providerUrl = `http://127.0.0.1:${provider.address().port}/openai/v1`;

const mf = new Miniflare({
  inspectorPort: 9229,
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
    (() => {
      const w = auxWorker("services/si", { GROQ_API_KEY: "bench-key", GROQ_BASE_URL: providerUrl });
      if (process.env.NO_ADVISOR) delete w.serviceBindings.ADVISOR;
      return w;
    })(),
    auxWorker("services/advisor"),
    auxWorker("services/jobs"),
    auxWorker("services/uploads"),
    auxWorker("services/rag"),
  ],
});

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

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
  const _direct = async () => {
    const response = await fetch(`${providerUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer bench-key" },
      body: chat,
    });
    await response.arrayBuffer();
  };
  const askAt = (base) => async () => {
    const response = await fetch(new URL("/api/si/ask", base), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: ask,
    });
    const body = await response.json();
    if (response.status !== 200) throw new Error(`ask failed: ${response.status} ${JSON.stringify(body)}`);
  };
  const _health = async () => {
    const r = await fetch(new URL("/health", gatewaySocket));
    await r.arrayBuffer();
  };
  const _me = async () => {
    const r = await fetch(new URL("/api/credits", gatewaySocket), { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
  };
  const _models = async () => {
    const r = await fetch(new URL("/v1/models", gatewaySocket), { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
  };
  const paths = [askAt(gatewaySocket)];
  await timeInterleaved(WARMUP, paths);
  const { default: WebSocket } = await import("ws");
  const targets = await (await fetch("http://127.0.0.1:9229/json")).json();
  const sessions = [];
  for (const t of targets.filter((t) => /cognomega-(api|si|billing)$/.test(t.id ?? t.title ?? ""))) {
    const ws = new WebSocket(t.webSocketDebuggerUrl);
    await new Promise((r) => ws.once("open", r));
    let id = 0;
    const waiters = new Map();
    ws.on("message", (m) => {
      const msg = JSON.parse(m);
      if (waiters.has(msg.id)) {
        waiters.get(msg.id)(msg);
        waiters.delete(msg.id);
      }
    });
    const send = (method, params = {}) =>
      new Promise((r) => {
        const i = ++id;
        waiters.set(i, r);
        ws.send(JSON.stringify({ id: i, method, params }));
      });
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 50 });
    await send("Profiler.start");
    sessions.push({ name: t.id ?? t.title, send, ws });
  }
  console.log(
    "profiling",
    sessions.map((s) => s.name),
  );
  const [g] = await timeInterleaved(RUNS, paths);
  const d = g,
    h = g,
    m = g,
    mo = g;
  const { writeFileSync } = await import("node:fs");
  for (const s of sessions) {
    const r = await s.send("Profiler.stop");
    writeFileSync(`/tmp/exp/${s.name.replace(/\W/g, "_")}.cpuprofile`, JSON.stringify(r.result.profile));
    s.ws.close();
  }
  const e = g;
  const at = (sorted, p) => percentile(sorted, p).toFixed(2).padStart(7);
  const row = (label, sorted) => `${label.padEnd(52)} p50 ${at(sorted, 50)} ms   p99 ${at(sorted, 99)} ms`;
  const added = (sorted) =>
    `p50 ${(percentile(sorted, 50) - percentile(d, 50)).toFixed(2)} ms, p99 ${(percentile(sorted, 99) - percentile(d, 99)).toFixed(2)} ms`;
  console.log(
    `SI latency benchmark: ${RUNS} sequential rounds (after ${WARMUP} warm-up), each path once per round, node ${process.version}`,
  );
  console.log(row("fake provider, direct", d));
  console.log(row("health", h));
  console.log(row("credits (jwt+admit+balance DO)", m));
  console.log(row("models (jwt+admit+SI rpc)", mo));
  console.log(row("POST /api/si/ask, gateway's own socket", g));
  console.log(row("POST /api/si/ask, through Miniflare's dev entry", e));
  console.log(`added by the gateway path: ${added(g)}   (targets: p50 ≤ 1 ms, p99 ≤ 5 ms)`);
  console.log(`added with Miniflare's dev entry in front: ${added(e)}`);
} finally {
  await mf.dispose();
  provider.close();
}
