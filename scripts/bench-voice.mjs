#!/usr/bin/env node
// `npm run bench:voice`: how much the full gateway path adds to the first audio byte of text to
// speech. A fake Cartesia listens on loopback; the benchmark times the same speech request (1)
// straight to the fake's `POST /tts/bytes` and (2) as `POST /api/voice/speech` through the real mesh
// (gateway → voice → billing hold → Cartesia → the stream back), one request at a time, to the first
// byte of the audio body, and reports the difference at p50 and p99, with the voice worker's gzip
// size. A script, not a test: it prints numbers.
import { execFileSync } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { stripVTControlCharacters } from "node:util";
import { Miniflare } from "miniflare";
import { SPEECH_CHUNK_BYTES, SPEECH_CHUNKS, startLoopbackCartesia } from "../ops/loopback-cartesia.mjs";
import { auxWorker, restOfMesh } from "./aux-workers.mjs";
import { figure, percentile, printResult } from "./bench-report.mjs";
import { root } from "./workers.mjs";

const RUNS = Number(process.env.BENCH_REQUESTS ?? 1000);
const WARMUP = 100;
const CARTESIA_KEY = "bench-cartesia-key";
const TEXT = "Your app is ready.";

const build = execFileSync("node", ["scripts/build-workers.mjs"], { cwd: root, encoding: "utf8" });
const voiceSize = stripVTControlCharacters(build).match(/^services\/voice\s+([\d.]+)\s+([\d.]+)$/m);

const cartesia = await startLoopbackCartesia(CARTESIA_KEY);
const cartesiaUrl = cartesia.url;

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
    // Each speech costs about 0.09 credits: enough credits and daily budget for any BENCH_REQUESTS.
    auxWorker("services/billing", {
      ENVIRONMENT: "development",
      DEFAULT_RPM: "1000000",
      GUEST_CREDITS: "1000000",
      DEFAULT_DAILY_CREDITS: "1000000",
    }),
    auxWorker("services/voice", {
      CARTESIA_API_KEY: CARTESIA_KEY,
      CARTESIA_BASE_URL: cartesiaUrl,
      // e.g. BENCH_VOICE_VARS='{"VOICE_ATTEMPT_TIMEOUT_MS":"500"}' to compare settings.
      ...JSON.parse(process.env.BENCH_VOICE_VARS ?? "{}"),
    }),
    // The gateway binds every service; the ones this benchmark does not set up only have to start.
    ...restOfMesh(["gateway", "services/billing", "services/voice"]),
  ],
});

// One keep-alive client for every path: node:http is lighter than fetch, so less of what is
// measured is the benchmark's own client.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * POSTs `body` and resolves when the whole answer has arrived, with the milliseconds from sending
 * to the first byte of the answer's body (not its headers: the audio itself).
 */
function firstByte(url, body, headers) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstAt;
    const request = httpRequest(
      url,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => {
          firstAt ??= performance.now();
          chunks.push(chunk);
        });
        response.on("end", () => {
          const text = Buffer.concat(chunks);
          if (response.statusCode !== 200 || firstAt === undefined) {
            reject(new Error(`${url} answered ${response.statusCode}: ${text.toString().slice(0, 300)}`));
          } else resolve({ ms: firstAt - started, bytes: text.length });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * Times every path once per round, round after round, so that all of them see the same machine
 * conditions (the benchmark, the fake Cartesia and workerd share the cores).
 */
async function timeInterleaved(rounds, paths) {
  const latencies = paths.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [index, once] of paths.entries()) latencies[index].push(await once());
  }
  return latencies.map((list) => list.sort((a, b) => a - b));
}

try {
  const entry = await mf.ready;
  const gatewaySocket = await mf.unsafeGetDirectURL("cognomega-api");
  const { token } = await (await fetch(new URL("/auth/guest", entry), { method: "POST" })).json();
  // What the voice worker sends Cartesia for this speech, near enough: the fake reads and ignores it.
  const ttsBody = JSON.stringify({
    model_id: "sonic-3",
    transcript: TEXT,
    voice: { mode: "id", id: "a0e99841-438c-4a64-b679-ae501e7d6091" },
    output_format: { container: "mp3", sample_rate: 44100, bit_rate: 128000 },
  });
  const speech = JSON.stringify({ text: TEXT, format: "mp3" });
  const expected = SPEECH_CHUNK_BYTES * SPEECH_CHUNKS;
  const direct = async () => {
    const { ms } = await firstByte(new URL("/tts/bytes", cartesiaUrl), ttsBody, {
      authorization: `Bearer ${CARTESIA_KEY}`,
      "cartesia-version": "2026-03-01",
    });
    return ms;
  };
  const viaGateway = async () => {
    const { ms, bytes } = await firstByte(new URL("/api/voice/speech", gatewaySocket), speech, {
      authorization: `Bearer ${token}`,
    });
    if (bytes !== expected) throw new Error(`speech carried ${bytes} bytes, the provider sent ${expected}`);
    return ms;
  };
  await timeInterleaved(WARMUP, [direct, viaGateway]);
  const [d, g] = await timeInterleaved(RUNS, [direct, viaGateway]);
  const at = (sorted, p) => percentile(sorted, p).toFixed(2).padStart(7);
  const row = (label, sorted) => `${label.padEnd(52)} p50 ${at(sorted, 50)} ms   p99 ${at(sorted, 99)} ms`;
  console.log(
    `Voice first-byte benchmark: ${RUNS} sequential rounds (after ${WARMUP} warm-up), each path once per round, node ${process.version}`,
  );
  console.log(row("fake Cartesia POST /tts/bytes, direct", d));
  console.log(row("POST /api/voice/speech, gateway's own socket", g));
  console.log(
    `added by the gateway path to the first audio byte: p50 ${(percentile(g, 50) - percentile(d, 50)).toFixed(2)} ms, p99 ${(percentile(g, 99) - percentile(d, 99)).toFixed(2)} ms   (targets: p50 ≤ 2 ms, p99 ≤ 8 ms)`,
  );
  console.log(
    voiceSize
      ? `voice worker: ${voiceSize[1]} KiB, gzip ${voiceSize[2]} KiB   (target: gzip ≤ 60 KiB)`
      : "voice worker size: not found in the build output",
  );
  const addedP50 = Number((percentile(g, 50) - percentile(d, 50)).toFixed(2));
  const addedP99 = Number((percentile(g, 99) - percentile(d, 99)).toFixed(2));
  const gzip = voiceSize ? Number(voiceSize[2]) : null;
  printResult("voice", [
    figure("added to the first audio byte, p50", addedP50, "ms", "≤ 2 ms", addedP50 <= 2),
    figure("added to the first audio byte, p99", addedP99, "ms", "≤ 8 ms", addedP99 <= 8),
    figure("voice worker, gzip", gzip, "KiB", "≤ 60 KiB", gzip !== null && gzip <= 60),
  ]);
} finally {
  await mf.dispose();
  await cartesia.close();
}
