#!/usr/bin/env node
// Proves the README's first command: `npm start` brings up the whole mesh offline, every probe
// passes against it, an admin key from the environment reaches the gateway, and SIGTERM leaves
// no process behind. Run by .ci/run after the tests.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
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
const started = Date.now();
const child = spawn("npm", ["start", "--silent"], {
  cwd: root,
  detached: true,
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, PORT: String(port), ADMIN_KEY: adminKey },
});
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

  const results = await probe(base);
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
if (failure) {
  console.error(`smoke test failed: ${failure.message}\n--- npm start output ---\n${output.slice(-4000)}`);
  process.exit(1);
}
