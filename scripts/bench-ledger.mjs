#!/usr/bin/env node
// `npm run bench:ledger`: debit throughput and latency of the credits ledger, run locally in workerd.
//   1. RPC: a driver worker calls BillingService.adjust over a service binding, as the gateway does.
//   2. HTTP: POST /api/credits/adjust through the real gateway, from this Node process.
// Each runs on one account and spread over 10 accounts. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { restOfMesh } from "./aux-workers.mjs";
import { figure, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const TOTAL = Number(process.env.BENCH_DEBITS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ADMIN_KEY = "bench-admin-key";

execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, stdio: "ignore" });

function worker(dir, name) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, dir, "wrangler.jsonc"));
  return {
    ...workerOptions,
    name,
    modules: true,
    scriptPath: join(root, dir, "dist", "index.js"),
    modulesRoot: join(root, dir, "dist"),
  };
}

// The driver runs inside workerd so the RPC numbers carry no HTTP cost; it times each call.
const driver = `
export default {
  async fetch(request, env) {
    const { accounts, total, concurrency } = await request.json();
    const admin = { sub: "admin", source: "admin", admin: true };
    const call = { requestId: "bench" };
    const names = [];
    for (let i = 0; i < accounts; i++) {
      const { sub } = await env.BILLING.issueGuestToken({}, call);
      await env.BILLING.adjust({ account: sub, delta: 1000000, reason: "bench funding" }, crypto.randomUUID(), admin, call);
      names.push(sub);
    }
    const latencies = [];
    let next = 0;
    const started = performance.now();
    async function lane() {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await env.BILLING.adjust({ account: names[i % accounts], delta: -0.000001, reason: "bench" }, "d-" + i, admin, call);
        latencies.push(performance.now() - t);
      }
    }
    await Promise.all(Array.from({ length: concurrency }, lane));
    return Response.json({ seconds: (performance.now() - started) / 1000, latencies, accounts: names });
  },
};`;

const billing = worker("services/billing", "cognomega-billing");
const mf = new Miniflare({
  // The gateway logs a line per request; a benchmark prints only its numbers.
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
  workers: [
    { ...worker("gateway", "cognomega-api"), bindings: { ADMIN_KEY, ALLOWED_ORIGINS: "" } },
    {
      ...billing,
      bindings: {
        ...billing.bindings,
        ENVIRONMENT: "development",
        DEFAULT_RPM: "1000000",
        GUEST_TOKENS_PER_MINUTE: "1000",
      },
    },
    // The gateway binds every service; the ones this benchmark does not set up only have to start.
    ...restOfMesh(["gateway", "services/billing"]),
    {
      name: "bench-driver",
      modules: true,
      script: driver,
      compatibilityDate: "2026-04-21",
      serviceBindings: { BILLING: { name: "cognomega-billing", entrypoint: "BillingEntrypoint" } },
    },
  ],
});

function stats(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return { p50: at(50), p99: at(99) };
}

/** One run's figures, with the line that prints them. */
function line(label, count, seconds, latencies) {
  const { p50, p99 } = stats(latencies);
  const rate = Math.round(count / seconds);
  return {
    label,
    rate,
    p50,
    p99,
    text: `${label.padEnd(44)} ${String(rate).padStart(7)} debits/s   p50 ${p50.toFixed(2).padStart(6)} ms   p99 ${p99.toFixed(2).padStart(6)} ms`,
  };
}

async function rpc(accounts, concurrency = CONCURRENCY, total = TOTAL) {
  const driverWorker = await mf.getWorker("bench-driver");
  const response = await driverWorker.fetch("http://bench/", {
    method: "POST",
    body: JSON.stringify({ accounts, total, concurrency }),
  });
  const result = await response.json();
  if (!response.ok) throw new Error(JSON.stringify(result));
  return line(
    `RPC  adjust, ${accounts} account${accounts > 1 ? "s" : ""}, ${concurrency} in flight`,
    total,
    result.seconds,
    result.latencies,
  );
}

async function http(accounts, concurrency = CONCURRENCY, total = TOTAL) {
  const url = await mf.ready;
  const names = [];
  for (let i = 0; i < accounts; i++) {
    const { sub } = await (await fetch(new URL("/auth/guest", url), { method: "POST" })).json();
    await fetch(new URL("/api/credits/adjust", url), {
      method: "POST",
      headers: { "X-Admin-Key": ADMIN_KEY, "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ account: sub, delta: 1000000, reason: "bench funding" }),
    });
    names.push(sub);
  }
  const latencies = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  async function lane() {
    while (next < total) {
      const i = next++;
      const t = performance.now();
      const response = await fetch(new URL("/api/credits/adjust", url), {
        method: "POST",
        headers: {
          "X-Admin-Key": ADMIN_KEY,
          "Idempotency-Key": `http-${accounts}-${concurrency}-${i}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify({ account: names[i % accounts], delta: -0.000001, reason: "bench" }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) failures++;
      latencies.push(performance.now() - t);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (failures > 0) throw new Error(`${failures} debits failed`);
  return line(
    `HTTP gateway, ${accounts} account${accounts > 1 ? "s" : ""}, ${concurrency} in flight`,
    total,
    (performance.now() - started) / 1000,
    latencies,
  );
}

try {
  await mf.ready;
  console.log(
    `ledger benchmark: ${TOTAL} debits per run, ${CONCURRENCY} in flight, node ${process.version}, workerd (miniflare ${(await import("miniflare/package.json", { with: { type: "json" } })).default.version})`,
  );
  await rpc(1); // warm-up: compiles the workers and opens storage
  const runs = [
    () => rpc(1),
    () => rpc(10),
    () => http(1),
    () => http(10),
    () => rpc(1, 1, 1000),
    () => http(1, 1, 1000),
  ];
  const results = [];
  for (const run of runs) {
    const result = await run();
    console.log(result.text);
    results.push(result);
  }
  const [rpcOne, rpcTen, httpOne, httpTen] = results;
  printResult("ledger", [
    figure("RPC, 1 account, debits/s", rpcOne.rate, "/s", "≥ 2,000", rpcOne.rate >= 2000),
    figure("RPC, 10 accounts, debits/s", rpcTen.rate, "/s"),
    figure("HTTP, 1 account, debits/s", httpOne.rate, "/s"),
    figure("HTTP, 10 accounts, debits/s", httpTen.rate, "/s"),
    figure("HTTP, 1 account, p99", Number(httpOne.p99.toFixed(2)), "ms"),
  ]);
} finally {
  await mf.dispose();
}
