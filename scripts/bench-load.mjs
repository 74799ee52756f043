#!/usr/bin/env node
// `npm run bench:load`: throughput under load. `POST /api/si/ask` and the bulk OFREP evaluation of
// 50 flags, each at 50 requests in flight for 10 s through the real gateway (its own socket in
// workerd, as deployed), against a bare worker in the same workerd: for asks, one that only forwards
// the same chat completion to the same loopback provider; for OFREP, one answering the same JSON
// bytes. Reported as ratios (gateway / bare) of requests per second and of p99, the median over
// alternating rounds. Every answer is checked and the guest's balance must come out exact (start −
// the sum of credits_used == end, in micro-credits): wrong answers or a wrong balance exit 1; a
// missed target is a measurement and only prints FAIL.
//
// Flags: --duration <s> (10), --concurrency <n> (50), --rounds <n> (3), --warmup <s> (2, excluded
// from the figures), --client process|inline (process: the load generator runs in a process of its
// own), --only ask|ask-latency|ofrep, --provider-ms <ms> (100: how long the provider takes in the
// ask-latency scenario, a figure without a target: what the mesh's cost is worth against a model's
// time to answer).
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { auxWorker, restOfMesh } from "./aux-workers.mjs";
import { BENCH_FLAG_COUNT, benchFlags } from "./bench-flag-set.mjs";
import { keepAliveAgent, sendJson, startLoopbackProvider } from "./bench-http.mjs";
import { forkedLoad, runLoad } from "./bench-load-client.mjs";
import { figure, median, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const { values: flags } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    concurrency: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "2" },
    client: { type: "string", default: "process" },
    only: { type: "string" },
    "provider-ms": { type: "string", default: "100" },
  },
});
const DURATION_MS = Number(flags.duration) * 1000;
const WARMUP_MS = Number(flags.warmup) * 1000;
const CONCURRENCY = Number(flags.concurrency);
const ROUNDS = Number(flags.rounds);
if (![DURATION_MS, CONCURRENCY, ROUNDS].every((n) => Number.isFinite(n) && n > 0) || !(WARMUP_MS >= 0)) {
  throw new Error("--duration, --concurrency and --rounds must be positive numbers, --warmup at least 0");
}
if (!["process", "inline"].includes(flags.client)) throw new Error("--client is process or inline");
const SCENARIOS = flags.only ? flags.only.split(",") : ["ask", "ask-latency", "ofrep"];
const PROVIDER_MS = Number(flags["provider-ms"]);
if (!(PROVIDER_MS > 0)) throw new Error("--provider-ms must be a positive number");
const ADMIN = "bench-admin";
const ASK_TARGET = 0.9;
const SETTLE_MS = 1500;
const OFREP_TARGET = 0.5;

execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "ignore" });
const provider = await startLoopbackProvider();

// What SI sends the provider for the ask below, near enough (the fake reads and ignores it).
const CHAT = JSON.stringify({
  model: "openai/gpt-oss-20b",
  messages: [{ role: "user", content: "Reply with ok." }],
  max_tokens: 8,
});

const directSocket = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };
const mf = new Miniflare({
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.on("data", (chunk) => process.env.BENCH_DEBUG && process.stderr.write(chunk));
  },
  workers: [
    auxWorker("gateway", { ADMIN_KEY: ADMIN, ALLOWED_ORIGINS: "" }, directSocket),
    // Enough credits, daily budget and rate for any run length: the limits are not what is measured.
    auxWorker("services/billing", {
      ENVIRONMENT: "development",
      DEFAULT_RPM: "1000000",
      GUEST_CREDITS: "1000000",
      DEFAULT_DAILY_CREDITS: "1000000",
    }),
    auxWorker("services/si", { GROQ_API_KEY: "bench-key", GROQ_BASE_URL: provider.url }),
    ...restOfMesh(["gateway", "services/billing", "services/si"]),
    // The asks' baseline: the same provider call, and nothing else.
    {
      name: "bench-forwarder",
      modules: true,
      compatibilityDate: "2026-04-21",
      bindings: { PROVIDER_URL: provider.url, CHAT },
      script: `export default {
  async fetch(request, env) {
    await request.arrayBuffer();
    const answer = await fetch(env.PROVIDER_URL + "/chat/completions", {
      method: "POST",
      headers: { authorization: "Bearer bench-key", "content-type": "application/json" },
      body: env.CHAT,
    });
    return new Response(answer.body, { status: answer.status, headers: { "content-type": "application/json" } });
  },
};`,
      ...directSocket,
    },
    // The OFREP baseline: the same JSON bytes, and nothing else.
    {
      name: "bench-bare-json",
      modules: true,
      compatibilityDate: "2026-04-21",
      script: `let body = "{}";
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/set") body = await request.text();
    else await request.arrayBuffer();
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
};`,
      ...directSocket,
    },
  ],
});

const setupAgent = keepAliveAgent(1);
const send = (url, options) => sendJson(setupAgent, url, options);

/** The guest's balance in micro-credits, from `GET /api/credits`. */
async function balanceMicro(gateway, token) {
  const { status, body } = await send(new URL("/api/credits", gateway), {
    method: "GET",
    headers: { authorization: `Bearer ${token}` },
  });
  if (status !== 200) throw new Error(`GET /api/credits answered ${status}: ${body}`);
  const [whole, fraction = ""] = String(JSON.parse(body).balance).split(".");
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, "0"));
}

/**
 * The rounds of one scenario: bare and gateway alternately, the order swapped every round, so both
 * see the same machine conditions. Each round's ratio compares the two loads run back to back.
 */
async function measure(load, bare, gateway) {
  const spec = { concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
  // Untimed load on both first: a first round would otherwise carry the mesh's own start (the
  // first measured side came out up to 2× slower on a first round without it).
  const warm = {
    bare: await load({ ...spec, ...bare, warmupMs: 0, durationMs: Math.max(WARMUP_MS, 2000) }),
    gateway: await load({ ...spec, ...gateway, warmupMs: 0, durationMs: Math.max(WARMUP_MS, 2000) }),
  };
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pair = {};
    for (const side of round % 2 === 0 ? ["bare", "gateway"] : ["gateway", "bare"]) {
      // An ask leaves work behind (its batched charge, the usage outbox carried a second later):
      // let it finish, so it lands in neither the next side's window nor the wrong one.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      pair[side] = await load({ ...spec, ...(side === "bare" ? bare : gateway) });
    }
    rounds.push({ ...pair, rps: pair.gateway.rps / pair.bare.rps, p99: pair.gateway.p99 / pair.bare.p99 });
  }
  // Every load, the untimed one included: all their answers were checked and asks charged.
  const all = [warm, ...rounds].flatMap((pair) => [pair.bare, pair.gateway]);
  const gatewayLoads = [warm, ...rounds].map((pair) => pair.gateway);
  return {
    rounds,
    answers: all.reduce((sum, one) => sum + one.answers, 0),
    failures: all.reduce((sum, one) => sum + one.failures, 0),
    firstFailure: all.find((one) => one.failures > 0)?.firstFailure,
    asks: gatewayLoads.reduce((sum, one) => sum + one.answers, 0),
    chargedMicro: gatewayLoads.reduce((sum, one) => sum + one.creditsMicro, 0),
  };
}

const fixed = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

function report(title, rounds, target) {
  console.log(`\n${title}`);
  console.log("round   bare req/s  bare p99   gateway req/s  gateway p99   ratio req/s  ratio p99   failures");
  for (const [index, { bare, gateway, rps, p99 }] of rounds.entries()) {
    console.log(
      `${String(index + 1).padEnd(7)} ${fixed(bare.rps, 0).padStart(10)} ${fixed(bare.p99).padStart(7)} ms ${fixed(gateway.rps, 0).padStart(15)} ${fixed(gateway.p99).padStart(9)} ms ${fixed(rps).padStart(13)} ${fixed(p99).padStart(10)} ${String(bare.failures + gateway.failures).padStart(10)}`,
    );
  }
  const rps = median(rounds.map((round) => round.rps));
  const p99 = median(rounds.map((round) => round.p99));
  const spread = (key) =>
    `${fixed(Math.min(...rounds.map((r) => r[key])))}–${fixed(Math.max(...rounds.map((r) => r[key])))}`;
  console.log(
    `median ratio req/s ${fixed(rps)} (rounds ${spread("rps")}), p99 ${fixed(p99)} (rounds ${spread("p99")})${target === undefined ? "" : `   target req/s ≥ ${target}: ${rps >= target ? "PASS" : "FAIL"}`}`,
  );
  return { rps, p99, spread: spread("rps") };
}

const wrong = [];
const figures = [];
const client = flags.client === "process" ? forkedLoad() : null;
const load = client ? (spec) => client.run(spec) : runLoad;
try {
  const entry = await mf.ready;
  const gateway = await mf.unsafeGetDirectURL("cognomega-api");
  const forwarder = await mf.unsafeGetDirectURL("bench-forwarder");
  const bareJson = await mf.unsafeGetDirectURL("bench-bare-json");
  const { token } = await (await fetch(new URL("/auth/guest", entry), { method: "POST" })).json();
  const bearer = { authorization: `Bearer ${token}` };
  console.log(
    `Load benchmark: ${CONCURRENCY} in flight, ${ROUNDS} alternating rounds of ${DURATION_MS / 1000} s per path after ${WARMUP_MS / 1000} s warm-up each, load generator ${flags.client === "process" ? "in its own process" : "in this process"}, node ${process.version}`,
  );
  const noteFailures = (name, run) => {
    if (run.failures > 0) wrong.push(`${name}: ${run.failures} wrong answers, e.g. ${run.firstFailure}`);
  };

  /**
   * Asks against the forwarder, the provider answering after `providerMs`. At 0 ms the figure is the
   * mesh's own cost per ask against a forwarder's (the target); with a model's time to answer it is
   * what a user of the gateway sees.
   */
  const runAsks = async (providerMs) => {
    provider.setDelay(providerMs);
    const label = providerMs === 0 ? "asks" : `asks, provider ${providerMs} ms`;
    const ask = JSON.stringify({ prompt: "Reply with ok.", model: "groq/gpt-oss-20b", max_tokens: 8 });
    const before = await balanceMicro(gateway, token);
    const run = await measure(
      load,
      { request: { url: forwarder.href, body: ask }, expect: { kind: "chat", output: "ok" } },
      {
        request: { url: new URL("/api/si/ask", gateway).href, body: ask, headers: bearer },
        expect: { kind: "ask", output: "ok" },
      },
    );
    const { rps, p99, spread } = report(
      `POST /api/si/ask against a bare forwarder to the same provider${providerMs === 0 ? " (answering at once)" : `, which answers after ${providerMs} ms`}`,
      run.rounds,
      providerMs === 0 ? ASK_TARGET : undefined,
    );
    noteFailures(label, run);
    const { rounds, chargedMicro: charged, asks } = run;
    // Charges reach the ledger in batches after the answers: wait until they have all arrived.
    let after = await balanceMicro(gateway, token);
    for (let attempt = 0; attempt < 100 && after !== before - charged; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await balanceMicro(gateway, token);
    }
    const exact = after === before - charged;
    console.log(
      `balance: ${before} µcredits before, ${charged} charged over ${asks} asks, ${after} after: ${exact ? "exact" : `WRONG by ${before - charged - after}`}`,
    );
    if (!exact) wrong.push(`${label}: balance ${after} µcredits, expected ${before - charged}`);
    figures.push(
      providerMs === 0
        ? figure(
            `${label}: req/s, gateway / bare forwarder`,
            Number(rps.toFixed(2)),
            "×",
            `≥ ${ASK_TARGET}`,
            rps >= ASK_TARGET,
          )
        : figure(`${label}: req/s, gateway / bare forwarder`, Number(rps.toFixed(2)), "×"),
      figure(`${label}: p99, gateway / bare forwarder`, Number(p99.toFixed(2)), "×"),
      figure(`${label}: ratio spread over rounds`, spread, ""),
      figure(`${label}: gateway req/s (median)`, Math.round(median(rounds.map((r) => r.gateway.rps))), "req/s"),
      figure(
        `${label}: answers checked, balance exact`,
        `${asks.toLocaleString("en-US")}, ${exact ? "yes" : "no"}`,
        "",
        "all right",
        exact && run.failures === 0,
      ),
    );
    provider.setDelay(0);
  };
  if (SCENARIOS.includes("ask")) await runAsks(0);
  if (SCENARIOS.includes("ask-latency")) await runAsks(PROVIDER_MS);

  if (SCENARIOS.includes("ofrep")) {
    for (const [key, definition] of benchFlags()) {
      const put = await send(new URL(`/api/admin/flags/${key}`, gateway), {
        method: "PUT",
        body: JSON.stringify(definition),
        headers: { "x-admin-key": ADMIN },
      });
      if (put.status !== 200 && put.status !== 201) throw new Error(`PUT ${key} answered ${put.status}: ${put.body}`);
    }
    const evaluate = JSON.stringify({ context: { plan: "pro" } });
    const bulk = new URL("/ofrep/v1/evaluate/flags", gateway).href;
    const first = await send(bulk, { body: evaluate, headers: bearer });
    if (first.status !== 200) throw new Error(`bulk evaluation answered ${first.status}: ${first.body}`);
    const flagCount = JSON.parse(first.body).flags.length;
    const benchCount = JSON.parse(first.body).flags.filter((flag) => flag.key.startsWith("bench.")).length;
    if (benchCount !== BENCH_FLAG_COUNT) throw new Error(`bulk evaluation carried ${benchCount} bench flags`);
    await send(new URL("/set", bareJson), { body: first.body });
    const run = await measure(
      load,
      { request: { url: bareJson.href, body: evaluate }, expect: { kind: "same", body: first.body } },
      { request: { url: bulk, body: evaluate, headers: bearer }, expect: { kind: "same", body: first.body } },
    );
    const { rps, p99, spread } = report(
      `POST /ofrep/v1/evaluate/flags (${flagCount} flags, ${Buffer.byteLength(first.body)} bytes) against a bare JSON worker`,
      run.rounds,
      OFREP_TARGET,
    );
    noteFailures("OFREP", run);
    const { rounds } = run;
    figures.push(
      figure(
        "OFREP bulk: req/s, gateway / bare JSON",
        Number(rps.toFixed(2)),
        "×",
        `≥ ${OFREP_TARGET}`,
        rps >= OFREP_TARGET,
      ),
      figure("OFREP bulk: p99, gateway / bare JSON", Number(p99.toFixed(2)), "×"),
      figure("OFREP bulk: ratio spread over rounds", spread, ""),
      figure("OFREP bulk: gateway req/s (median)", Math.round(median(rounds.map((r) => r.gateway.rps))), "req/s"),
      figure("OFREP bulk: answers checked", run.answers, "", "all right", run.failures === 0),
    );
  }
} finally {
  client?.close();
  setupAgent.destroy();
  await mf.dispose();
  await provider.close();
}

printResult("load", figures, [
  `${CONCURRENCY} in flight, ${ROUNDS} rounds of ${DURATION_MS / 1000} s per path, load generator ${flags.client === "process" ? "in its own process" : "inline"}`,
]);
if (wrong.length > 0) {
  for (const problem of wrong) console.error(`WRONG: ${problem}`);
  process.exit(1);
}
