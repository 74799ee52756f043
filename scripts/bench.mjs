#!/usr/bin/env node
// `npm run bench`: every benchmark, one after another (each in a process of its own, so none
// inherits another's heap or sockets), then the figures table in docs/benchmarks.md rewritten
// between its markers from the `bench-result` line each one prints (scripts/bench-report.mjs).
//
//   npm run bench                        all of them, full length
//   npm run bench -- --only si,load      some of them (the table is printed, the document left alone)
//   npm run bench -- --quick             short runs, to check the harness (the table says so)
//   npm run bench -- --no-write          print the table, leave the document alone
//
// Exits 1 when a benchmark fails (an exception, a wrong answer, a wrong balance); a missed target
// is a measurement: FAIL in the table, exit 0.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

/** Every benchmark: its script, and the environment or flags of a quick run. */
const BENCHES = [
  { name: "ledger", title: "Ledger", script: "bench-ledger.mjs", quick: { env: { BENCH_DEBITS: "500" } } },
  { name: "si", title: "SI latency overhead", script: "bench-si.mjs", quick: { env: { BENCH_REQUESTS: "300" } } },
  { name: "voice", title: "Voice first byte", script: "bench-voice.mjs", quick: { env: { BENCH_REQUESTS: "200" } } },
  { name: "scaffold", title: "Scaffold render", script: "bench-scaffold.mjs", quick: { env: { BENCH_RUNS: "30" } } },
  {
    name: "flags",
    title: "Flags",
    script: "bench-flags.mjs",
    quick: { env: { BENCH_REQUESTS: "300", BENCH_EVALUATIONS: "20000" } },
  },
  {
    name: "rollup",
    title: "Hourly usage rollup",
    script: "bench-rollup.mjs",
    quick: { env: { BENCH_ACCOUNTS: "20", BENCH_EVENTS_PER_ACCOUNT: "50" } },
  },
  {
    name: "load",
    title: "Throughput under load",
    script: "bench-load.mjs",
    quick: { args: ["--duration", "2", "--warmup", "1", "--rounds", "3"] },
  },
];
const START = "<!-- bench:table:start -->";
const END = "<!-- bench:table:end -->";
const DOC = join(root, "docs", "benchmarks.md");

const { values: options } = parseArgs({
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const wanted = options.only ? options.only.split(",") : BENCHES.map((bench) => bench.name);
const unknown = wanted.filter((name) => !BENCHES.some((bench) => bench.name === name));
if (unknown.length > 0)
  throw new Error(`unknown benchmark ${unknown.join(", ")}: one of ${BENCHES.map((b) => b.name)}`);

/** Runs one benchmark, passing its output through; resolves with its exit code and stdout. */
function run(bench) {
  const quick = options.quick ? bench.quick : {};
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, "scripts", bench.script), ...(quick.args ?? [])], {
      cwd: root,
      env: { ...process.env, ...quick.env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

const format = (value) => (typeof value === "number" ? value.toLocaleString("en-US") : String(value));
const verdict = (pass) => (pass === true ? "PASS" : pass === false ? "**FAIL**" : "");

const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(", ");
const started = new Date();
const loadAtStart = load();
// A one-minute load average above the core count: other work was queued for the same cores.
const busy = () => loadavg()[0] > cpus().length;
const busyAtStart = busy();
const rows = [];
let failed = false;
for (const bench of BENCHES.filter((b) => wanted.includes(b.name))) {
  console.log(`\n=== ${bench.title} (${bench.script}) ===`);
  const benchStarted = performance.now();
  const { code, stdout } = await run(bench);
  const seconds = Math.round((performance.now() - benchStarted) / 1000);
  let result;
  try {
    result = parseResult(stdout);
  } catch {
    result = undefined;
  }
  if (code !== 0 || result === undefined) {
    failed = true;
    rows.push(`| ${bench.title} | did not complete (exit ${code}${result ? "" : ", no result line"}) | | | **FAIL** |`);
  }
  for (const f of result?.figures ?? []) {
    rows.push(
      `| ${bench.title} | ${f.name} | ${format(f.value)}${f.unit ? ` ${f.unit}` : ""} | ${f.target ?? ""} | ${verdict(f.pass)} |`,
    );
  }
  console.log(`=== ${bench.name}: ${seconds} s, exit ${code} ===`);
}

const table = [
  START,
  `Measured ${started.toISOString().slice(0, 16).replace("T", " ")} UTC by \`npm run bench${options.quick ? " -- --quick" : ""}\`` +
    `${options.quick ? " (**quick run: short runs that check the harness, not figures to quote**)" : ""}: ` +
    `${cpus().length} cores (${cpus()[0]?.model.trim() ?? "unknown CPU"}), node ${process.version}, ` +
    `load average ${loadAtStart} at the start and ${load()} at the end` +
    `${busyAtStart || busy() ? " (**busier than its cores: absolute figures are not comparable with a quiet machine's**)" : ""}.`,
  "",
  "| benchmark | figure | measured | target | |",
  "|---|---|---:|---|---|",
  ...rows,
  END,
].join("\n");
console.log(`\n${table}`);

// A partial run would leave the table with figures from different runs: it only prints.
if (!options["no-write"] && !options.only) {
  const doc = readFileSync(DOC, "utf8");
  const from = doc.indexOf(START);
  const to = doc.indexOf(END);
  if (from === -1 || to < from) throw new Error(`docs/benchmarks.md has no ${START} … ${END} block`);
  writeFileSync(DOC, doc.slice(0, from) + table + doc.slice(to + END.length));
  console.log("docs/benchmarks.md: table rewritten");
}
process.exit(failed ? 1 : 0);
