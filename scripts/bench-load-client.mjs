// The load generator of `npm run bench:load`: keeps `concurrency` requests in flight on a keep-alive
// pool for a warm-up and then a measured window, checks every answer and summarises. It runs in the
// benchmark's process (`runLoad`) or in a process of its own (`forkedLoad`: this file, forked), so
// that the client's CPU need not compete with Miniflare's Node side and the loopback provider.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { keepAliveAgent, sendJson } from "./bench-http.mjs";
import { percentile } from "./bench-report.mjs";

const DECIMAL = /^(\d{1,10})(?:\.(\d{1,6}))?$/;

/** A non-negative JSON number of credits as integer micro-credits, exactly (through its decimal text). */
function creditsToMicro(value) {
  const match = typeof value === "number" ? DECIMAL.exec(String(value)) : null;
  if (!match) return undefined;
  return Number(match[1]) * 1_000_000 + Number((match[2] ?? "").padEnd(6, "0"));
}

/**
 * Checks one answer; returns an error message, or null when it is right. `expect.kind`:
 * - "ask": an SI answer with output `expect.output` and a `credits_used` of whole micro-credits;
 * - "chat": a chat completion whose first choice says `expect.output`;
 * - "same": exactly the bytes `expect.body` (an OFREP bulk answer is the same for the same context);
 *   compared as text, not parsed: parsing 5.6 KB a request made the client the bottleneck.
 * The kinds that parse do so on both sides of a comparison, so both pay the client the same work.
 */
function check(expect, status, body, totals) {
  if (status < 200 || status > 299) return `status ${status}: ${body.slice(0, 200)}`;
  if (expect.kind === "same") return body === expect.body ? null : `answer differs: ${body.slice(0, 200)}`;
  let answer;
  try {
    answer = JSON.parse(body);
  } catch {
    return `not JSON: ${body.slice(0, 200)}`;
  }
  if (expect.kind === "ask") {
    if (answer.output !== expect.output) return `output ${JSON.stringify(answer.output)}`;
    const micro = creditsToMicro(answer.credits_used);
    if (micro === undefined) return `credits_used ${JSON.stringify(answer.credits_used)}`;
    totals.creditsMicro += micro;
  } else if (expect.kind === "chat") {
    if (answer.choices?.[0]?.message?.content !== expect.output) return `chat answer ${body.slice(0, 200)}`;
  }
  return null;
}

/**
 * Runs one load: `concurrency` lanes each send `request` (`{ url, method, body, headers }`) back to
 * back for `warmupMs` and then `durationMs`. Only requests that start and end inside the measured
 * window count towards the rate and the percentiles; every answer, warm-up included, is checked
 * (`expect`) and counted. Resolves with `{ requests, seconds, rps, p50, p99, answers, failures,
 * firstFailure, creditsMicro }` (latencies in ms; `creditsMicro`: the sum of asks' credits_used).
 */
export async function runLoad({ request, expect, concurrency, warmupMs, durationMs }) {
  const agent = keepAliveAgent(concurrency);
  const url = new URL(request.url);
  const options = { method: request.method ?? "POST", body: request.body ?? "", headers: request.headers ?? {} };
  const totals = { creditsMicro: 0, answers: 0, failures: 0, firstFailure: null };
  const latencies = [];
  const started = performance.now();
  const windowStart = started + warmupMs;
  const windowEnd = windowStart + durationMs;
  const lane = async () => {
    while (performance.now() < windowEnd) {
      const sent = performance.now();
      let problem;
      try {
        const { status, body } = await sendJson(agent, url, options);
        problem = check(expect, status, body, totals);
      } catch (error) {
        problem = `request failed: ${error.message}`;
      }
      const done = performance.now();
      totals.answers += 1;
      if (problem !== null) {
        totals.failures += 1;
        totals.firstFailure ??= problem;
      }
      if (sent >= windowStart && done <= windowEnd) latencies.push(done - sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const seconds = durationMs / 1000;
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50) ?? Number.NaN,
    p99: percentile(latencies, 99) ?? Number.NaN,
    ...totals,
  };
}

/** A load generator in a process of its own: `run(spec)` runs `runLoad(spec)` there; `close()` ends it. */
export function forkedLoad() {
  const child = fork(fileURLToPath(import.meta.url), ["--child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let pending = null;
  child.on("message", (message) => {
    const { resolve, reject } = pending;
    pending = null;
    if (message.error) reject(new Error(message.error));
    else resolve(message.result);
  });
  child.on("exit", (code) => pending?.reject(new Error(`load generator exited with ${code}`)));
  return {
    run(spec) {
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(spec);
      });
    },
    close() {
      child.disconnect();
    },
  };
}

if (process.argv.includes("--child") && process.send) {
  process.on("message", async (spec) => {
    try {
      process.send({ result: await runLoad(spec) });
    } catch (error) {
      process.send({ error: String(error?.stack ?? error) });
    }
  });
}
