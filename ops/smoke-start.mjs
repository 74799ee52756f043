#!/usr/bin/env node
// Proves the README's first command: `npm start` brings up the whole mesh offline, every probe
// passes against it, an admin key from the environment reaches the gateway, voice speaks and hears
// through a Cartesia-compatible server named by CARTESIA_BASE_URL, an admin's flag is evaluated
// over OFREP, and SIGTERM leaves no process
// behind. With SMOKE_SCAFFOLD_DIR set it also renders the every-type sample graph through
// `POST /api/scaffold/render`, downloads the zip and unpacks it there (with the manifest as
// scaffold-manifest.json), for .ci/run to install, test and serve as a user would. Run by .ci/run
// after the tests.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { unzipSync } from "fflate";
import { LOOPBACK_TRANSCRIPT, SPEECH_CHUNK_BYTES, SPEECH_CHUNKS, startLoopbackCartesia } from "./loopback-cartesia.mjs";
import { probe, report } from "./probe.mjs";

const root = new URL("..", import.meta.url).pathname;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const adminKey = `smoke-${Math.random().toString(36).slice(2)}`;
const cartesiaKey = `smoke-cartesia-${Math.random().toString(36).slice(2)}`;
const cartesia = await startLoopbackCartesia(cartesiaKey);
const started = Date.now();
const child = spawn("npm", ["start", "--silent"], {
  cwd: root,
  detached: true,
  stdio: ["ignore", "pipe", "pipe"],
  env: {
    ...process.env,
    PORT: String(port),
    ADMIN_KEY: adminKey,
    CARTESIA_API_KEY: cartesiaKey,
    CARTESIA_BASE_URL: cartesia.url,
  },
});

/** A 16 kHz mono 16-bit WAV of `seconds` of a tone. */
function wav(seconds) {
  const samples = Math.round(seconds * 16_000);
  const bytes = Buffer.alloc(44 + samples * 2);
  bytes.write("RIFF", 0, "latin1");
  bytes.writeUInt32LE(36 + samples * 2, 4);
  bytes.write("WAVEfmt ", 8, "latin1");
  bytes.writeUInt32LE(16, 16);
  bytes.writeUInt16LE(1, 20);
  bytes.writeUInt16LE(1, 22);
  bytes.writeUInt32LE(16_000, 24);
  bytes.writeUInt32LE(32_000, 28);
  bytes.writeUInt16LE(2, 32);
  bytes.writeUInt16LE(16, 34);
  bytes.write("data", 36, "latin1");
  bytes.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) bytes.writeInt16LE(Math.round(8000 * Math.sin(i / 8)), 44 + i * 2);
  return bytes;
}

/** The every-type sample rendered, downloaded and unpacked into `dir`, through `npm start`. */
async function scaffoldCheck(dir) {
  const issued = await fetch(`${base}/auth/guest`, { method: "POST" });
  if (issued.status !== 200) throw new Error(`POST /auth/guest answered ${issued.status} for the scaffold check`);
  const auth = { Authorization: `Bearer ${(await issued.json()).token}` };
  const graph = readFileSync(join(root, "services/scaffold/samples/every-type.json"), "utf8");
  const rendered = await fetch(`${base}/api/scaffold/render`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ graph: JSON.parse(graph) }),
  });
  const manifest = await rendered.json();
  if (rendered.status !== 201)
    return [{ name: "a graph renders through npm start", ok: false, detail: JSON.stringify(manifest) }];
  const download = await fetch(`${base}/api/scaffold/${manifest.id}/download`, { headers: auth });
  const zip = new Uint8Array(await download.arrayBuffer());
  const sha256 = createHash("sha256").update(zip).digest("hex");
  const entries = unzipSync(zip);
  for (const [path, content] of Object.entries(entries)) {
    // One top-level folder: the project's files go straight into dir.
    const target = join(dir, path.split("/").slice(1).join("/"));
    if (path.endsWith("/")) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  writeFileSync(join(dir, "scaffold-manifest.json"), JSON.stringify(manifest, null, 2));
  return [
    {
      name: "a graph renders, and its zip downloads, through npm start",
      ok:
        download.status === 200 &&
        sha256 === manifest.archive.sha256 &&
        Object.keys(entries).length >= manifest.files.length,
      detail: `${manifest.files.length} files, ${zip.byteLength} bytes, into ${dir}`,
    },
  ];
}

/** Speech and transcription through `npm start`, against the loopback Cartesia. */
async function voiceChecks() {
  const issued = await fetch(`${base}/auth/guest`, { method: "POST" });
  if (issued.status !== 200) throw new Error(`POST /auth/guest answered ${issued.status} for the voice checks`);
  const { token } = await issued.json();
  const auth = { Authorization: `Bearer ${token}` };
  const spoken = await fetch(`${base}/api/voice/speech`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ text: "Your app is ready." }),
  });
  const audio = await spoken.arrayBuffer();
  const heard = await fetch(`${base}/api/voice/transcribe?language=en`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "audio/wav" },
    body: wav(2),
  });
  const transcript = await heard.json();
  return [
    {
      name: "voice speaks through CARTESIA_BASE_URL",
      ok:
        spoken.status === 200 &&
        spoken.headers.get("content-type") === "audio/mpeg" &&
        audio.byteLength === SPEECH_CHUNK_BYTES * SPEECH_CHUNKS &&
        spoken.headers.get("x-characters") === "18" &&
        spoken.headers.get("x-provider") === "cartesia",
      detail: `status ${spoken.status}, ${audio.byteLength} bytes, ${spoken.headers.get("x-credits-used")} credits`,
    },
    {
      name: "voice hears through CARTESIA_BASE_URL",
      ok: heard.status === 200 && transcript.text === LOOPBACK_TRANSCRIPT && transcript.duration_s === 2,
      detail: `status ${heard.status}: ${JSON.stringify(transcript).slice(0, 200)}`,
    },
  ];
}
/** An admin creates a flag with the README's request; a guest evaluates it over OFREP, one and bulk. */
async function flagsChecks() {
  const key = `smoke.${Math.random().toString(36).slice(2, 10)}`;
  const created = await fetch(`${base}/api/admin/flags/${key}`, {
    method: "PUT",
    headers: { "X-Admin-Key": adminKey, "Content-Type": "application/json" },
    body: JSON.stringify({
      type: "string",
      variants: { calm: "calm", bold: "bold" },
      default_variant: "calm",
      rules: [{ when: [{ attribute: "plan", op: "eq", value: "pro" }], variant: "bold" }],
    }),
  });
  const issued = await fetch(`${base}/auth/guest`, { method: "POST" });
  if (issued.status !== 200) throw new Error(`POST /auth/guest answered ${issued.status} for the flag checks`);
  const { token } = await issued.json();
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const one = await fetch(`${base}/ofrep/v1/evaluate/flags/${key}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ context: { plan: "pro" } }),
  });
  const evaluation = await one.json();
  const bulk = await fetch(`${base}/ofrep/v1/evaluate/flags`, { method: "POST", headers, body: "{}" });
  const etag = bulk.headers.get("etag");
  await bulk.arrayBuffer();
  const again = await fetch(`${base}/ofrep/v1/evaluate/flags`, {
    method: "POST",
    headers: { ...headers, "If-None-Match": etag ?? "" },
    body: "{}",
  });
  return [
    {
      name: "an admin creates a flag and a client evaluates it over OFREP",
      ok:
        created.status === 201 &&
        one.status === 200 &&
        evaluation.value === "bold" &&
        evaluation.reason === "TARGETING_MATCH",
      detail: `PUT ${created.status}, evaluate ${one.status}: ${JSON.stringify(evaluation).slice(0, 200)}`,
    },
    {
      name: "bulk OFREP answers an ETag and 304 for it",
      ok: bulk.status === 200 && etag !== null && again.status === 304,
      detail: `bulk ${bulk.status} ETag ${etag}, again ${again.status}`,
    },
  ];
}

let output = "";
child.stdout.on("data", (chunk) => (output += chunk));
child.stderr.on("data", (chunk) => (output += chunk));

let failure;
try {
  let ready = false;
  while (!ready && Date.now() - started < 90_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    ready = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    );
  }
  if (!ready) throw new Error("the mesh did not become ready within 90 s");
  console.log(`npm start: ready on ${base} after ${Date.now() - started} ms`);

  const results = await probe(base, { ask: true, voice: true });
  results.push(...(await voiceChecks()));
  results.push(...(await flagsChecks()));
  if (process.env.SMOKE_SCAFFOLD_DIR) results.push(...(await scaffoldCheck(process.env.SMOKE_SCAFFOLD_DIR)));
  results.push(await analyticsCheck(base, adminKey));
  const ping = await fetch(`${base}/api/admin/ping`, { headers: { "X-Admin-Key": adminKey } });
  results.push({
    name: "ADMIN_KEY from the environment reaches the gateway",
    ok: ping.status === 200,
    detail: `status ${ping.status}`,
  });
  console.log(report(base, results));
  if (!results.every((r) => r.ok)) throw new Error("probes failed");
} catch (error) {
  failure = error;
} finally {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    failure ??= new Error("npm start exited by itself");
  }
  const deadline = Date.now() + 15_000;
  while (groupAlive(child.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  if (groupAlive(child.pid)) {
    process.kill(-child.pid, "SIGKILL");
    failure ??= new Error("processes were left behind 15 s after SIGTERM");
  } else {
    console.log("SIGTERM: every process of npm start exited");
  }
}
await cartesia.close();
if (failure) {
  console.error(`smoke test failed: ${failure.message}\n--- npm start output ---\n${output.slice(-4000)}`);
  process.exit(1);
}

/**
 * The usage rollup against npm start's own PostgreSQL: a guest reports a usage event, an admin rolls
 * the lookback window, and the guest's analytics show the event.
 */
async function analyticsCheck(base, adminKey) {
  const name = "usage rolls up into npm start's PostgreSQL and shows in /api/analytics/usage";
  try {
    const guest = await (await fetch(`${base}/auth/guest`, { method: "POST", body: "{}" })).json();
    const auth = { Authorization: `Bearer ${guest.token}`, "Content-Type": "application/json" };
    const reported = await fetch(`${base}/api/billing/usage`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ tokens_in: 12, tokens_out: 3, provider: "smoke", model: "smoke-model", credits: 0.5 }),
    });
    if (reported.status !== 201) return { name, ok: false, detail: `report: status ${reported.status}` };
    const rolled = await fetch(`${base}/api/admin/rollup`, {
      method: "POST",
      headers: { "X-Admin-Key": adminKey, "Content-Type": "application/json" },
      body: "{}",
    });
    const rollup = await rolled.json();
    if (rolled.status !== 200) return { name, ok: false, detail: `rollup: ${rolled.status} ${JSON.stringify(rollup)}` };
    const usage = await (await fetch(`${base}/api/analytics/usage?group_by=model`, { headers: auth })).json();
    const row = usage.rows?.find((r) => r.model === "smoke-model");
    const ok = row?.requests === 1 && row?.tokens_in === 12 && row?.credits === 0.5;
    return {
      name,
      ok,
      detail: `${rollup.hours} hours, ${rollup.events} events, ${rollup.rows} rows; ${JSON.stringify(usage.rows)}`,
    };
  } catch (error) {
    return { name, ok: false, detail: String(error) };
  }
}
