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
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
  workers: [
    auxWorker("gateway", { ADMIN_KEY: "bench-admin", ALLOWED_ORIGINS: "" }),
    auxWorker("services/billing", { ENVIRONMENT: "development", DEFAULT_RPM: "1000000", GUEST_CREDITS: "1000" }),
    auxWorker("services/si", { GROQ_API_KEY: "bench-key", GROQ_BASE_URL: providerUrl }),
    auxWorker("services/advisor"),
  ],
});

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function time(count, once) {
  const latencies = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await once(i);
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

try {
  const base = await mf.ready;
  const { token } = await (await fetch(new URL("/auth/guest", base), { method: "POST" })).json();
  const chat = JSON.stringify({
    model: "openai/gpt-oss-20b",
    messages: [{ role: "user", content: "Reply with ok." }],
    max_tokens: 8,
  });
  const ask = JSON.stringify({ prompt: "Reply with ok.", model: "groq/gpt-oss-20b", max_tokens: 8 });
  const direct = async () => {
    const response = await fetch(`${providerUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer bench-key" },
      body: chat,
    });
    await response.arrayBuffer();
  };
  const viaGateway = async () => {
    const response = await fetch(new URL("/api/si/ask", base), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: ask,
    });
    const body = await response.json();
    if (response.status !== 200) throw new Error(`ask failed: ${response.status} ${JSON.stringify(body)}`);
  };
  await time(WARMUP, direct);
  await time(WARMUP, viaGateway);
  const d = await time(RUNS, direct);
  const g = await time(RUNS, viaGateway);
  const row = (label, sorted) =>
    `${label.padEnd(36)} p50 ${percentile(sorted, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(sorted, 99).toFixed(2).padStart(7)} ms`;
  console.log(
    `SI latency benchmark: ${RUNS} sequential requests each (after ${WARMUP} warm-up), node ${process.version}`,
  );
  console.log(row("fake provider, direct", d));
  console.log(row("POST /api/si/ask through the mesh", g));
  console.log(
    `added by the gateway path: p50 ${(percentile(g, 50) - percentile(d, 50)).toFixed(2)} ms, p99 ${(percentile(g, 99) - percentile(d, 99)).toFixed(2)} ms`,
  );
} finally {
  await mf.dispose();
  provider.close();
}
