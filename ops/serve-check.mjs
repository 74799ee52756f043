#!/usr/bin/env node
// `node ops/serve-check.mjs <dir>`: a downloaded scaffold (unpacked in dir, installed) serves its app:
// `npm run dev` applies its migration to a local D1 and starts, its index page answers, and the first
// entity's collection answers its API's JSON. Then every process it started is stopped. Run by .ci/run.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: serve-check.mjs <dir>");
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(dir, "scaffold-manifest.json"), "utf8"));
const port = await new Promise((resolve, reject) => {
  const server = createServer();
  server.once("error", reject);
  server.listen(0, "127.0.0.1", () => {
    const { port: free } = server.address();
    server.close(() => resolve(free));
  });
});
const base = `http://127.0.0.1:${port}`;
const child = spawn("npm", ["run", "dev", "--silent", "--", "--port", String(port), "--ip", "127.0.0.1"], {
  cwd: dir,
  detached: true,
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
let output = "";
child.stdout.on("data", (chunk) => (output += chunk));
child.stderr.on("data", (chunk) => (output += chunk));

let failure;
try {
  const started = Date.now();
  let page;
  while (Date.now() - started < 90_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    page = await fetch(`${base}/`).catch(() => undefined);
    if (page?.ok) break;
  }
  if (!page?.ok) throw new Error(`the app did not serve / within 90 s`);
  const html = await page.text();
  const path = manifest.entities[0].path;
  const list = await fetch(`${base}${path}`);
  const body = await list.json();
  if (list.status !== 200 || !Array.isArray(body.items))
    throw new Error(`GET ${path} answered ${list.status}: ${JSON.stringify(body).slice(0, 200)}`);
  console.log(
    `npm run dev: / served ${html.length} bytes and GET ${path} answered 200 after ${Date.now() - started} ms`,
  );
} catch (error) {
  failure = error;
} finally {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    failure ??= new Error("npm run dev exited by itself");
  }
}
if (failure) {
  console.error(`serve check failed: ${failure.message}\n--- npm run dev output ---\n${output.slice(-3000)}`);
  process.exit(1);
}
