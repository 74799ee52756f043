#!/usr/bin/env node
// Scripted checks against any Cognomega deployment (OPS.md, "Probes and proofs"):
//   npm run probe -- [BASE_URL] [--ask] [--voice] [--no-proof] [--out DIR]
// BASE_URL defaults to http://127.0.0.1:8787. PROBE_ORIGIN names an allowed origin to test CORS with
// (default http://localhost:5173, allowed by `npm start`). --ask adds one real SI ask and --voice one
// speech call (both billed by the provider when one is configured). The report is written to
// ops/proofs/<date>-<target>.txt (or DIR) unless --no-proof. Exit code 1 when any check fails.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const DENIED_ORIGIN = "https://denied.invalid";

/**
 * Runs every probe against `base`; returns [{ name, ok, detail }]. `ask` and `voice` add the two
 * checks that make a (tiny) billed provider call.
 * @param {string} base
 * @param {{ origin?: string, ask?: boolean, voice?: boolean }} [options]
 */
export async function probe(base, { origin = "http://localhost:5173", ask = false, voice = false } = {}) {
  const results = [];
  async function check(name, fn) {
    try {
      const detail = await fn();
      results.push({ name, ok: true, detail: detail ?? "" });
    } catch (error) {
      results.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  }
  function expect(condition, message) {
    if (!condition) throw new Error(message);
  }
  const get = (path, init) => fetch(new URL(path, base), init);

  await check("GET /ready is 200", async () => {
    const response = await get("/ready");
    const body = await response.text();
    expect(response.status === 200, `status ${response.status}: ${body}`);
    return body;
  });
  await check("X-Request-Id on every answer", async () => {
    const response = await get("/ready", { headers: { "X-Request-Id": "probe-request-0001" } });
    expect(response.headers.get("x-request-id") === "probe-request-0001", "incoming request id not kept");
  });
  await check(`CORS allows ${origin}`, async () => {
    const response = await get("/ready", { headers: { Origin: origin } });
    expect(response.headers.get("access-control-allow-origin") === origin, "no Access-Control-Allow-Origin");
    expect(
      (response.headers.get("access-control-expose-headers") ?? "").includes("X-Credits-Balance"),
      "billing headers not exposed",
    );
  });
  await check(`CORS denies ${DENIED_ORIGIN}`, async () => {
    const response = await get("/ready", { headers: { Origin: DENIED_ORIGIN } });
    const leaked = [...response.headers.keys()].filter((name) => name.startsWith("access-control-allow"));
    expect(leaked.length === 0, `sent ${leaked.join(", ")}`);
    expect((response.headers.get("vary") ?? "").includes("Origin"), "no Vary: Origin");
    const preflight = await get("/auth/guest", {
      method: "OPTIONS",
      headers: { Origin: DENIED_ORIGIN, "Access-Control-Request-Method": "POST" },
    });
    const granted = [...preflight.headers.keys()].filter((name) => name.startsWith("access-control-allow"));
    expect(granted.length === 0, `preflight sent ${granted.join(", ")}`);
  });
  await check("preflight is 204 with a max age", async () => {
    const response = await get("/auth/guest", {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
    expect(response.status === 204, `status ${response.status}`);
    expect(response.headers.get("access-control-max-age"), "no Access-Control-Max-Age");
  });
  let kids = [];
  await check("JWKS serves public keys only, cacheable", async () => {
    const response = await get("/.well-known/jwks.json");
    const body = await response.json();
    expect(response.status === 200, `status ${response.status}`);
    expect(/max-age=\d+/.test(response.headers.get("cache-control") ?? ""), "no max-age");
    expect(Array.isArray(body.keys) && body.keys.length > 0, "no keys published");
    // Recorded before the member check, so a leaking JWKS does not also fail the token check.
    kids = body.keys.map((key) => key.kid);
    for (const key of body.keys)
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(!(secret in key), `private member ${secret}`);
    return `kids: ${kids.join(", ")}; ${response.headers.get("cache-control")}`;
  });
  await check("HEAD of the JWKS is 200 without a body", async () => {
    const response = await get("/.well-known/jwks.json", { method: "HEAD" });
    const body = await response.arrayBuffer();
    expect(response.status === 200, `status ${response.status}`);
    expect(body.byteLength === 0, `${body.byteLength} bytes of body`);
    expect((response.headers.get("content-type") ?? "").startsWith("application/json"), "not application/json");
    expect(/max-age=\d+/.test(response.headers.get("cache-control") ?? ""), "no max-age");
  });
  await check("POST /auth/guest issues a token /api/me accepts", async () => {
    const issued = await get("/auth/guest", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    const body = await issued.json();
    expect(issued.status === 200 && typeof body.token === "string", `status ${issued.status}: ${JSON.stringify(body)}`);
    const kid = JSON.parse(Buffer.from(body.token.split(".")[0], "base64url").toString()).kid;
    expect(kids.includes(kid), `token kid ${kid} is not in the JWKS`);
    const me = await get("/api/me", { headers: { Authorization: `Bearer ${body.token}` } });
    const identity = await me.json();
    expect(
      me.status === 200 && identity.source === "jwt" && identity.sub === body.sub,
      `/api/me said ${JSON.stringify(identity)}`,
    );
    return `sub ${body.sub}`;
  });
  await check("GET /api/ai/binding lists the providers", async () => {
    const response = await get("/api/ai/binding");
    const body = await response.json();
    expect(response.status === 200 && Array.isArray(body.providers), `status ${response.status}`);
    return body.providers
      .map((p) => `${p.id}:${p.configured ? (p.healthy ? "healthy" : "unhealthy") : "not configured"}`)
      .join(", ");
  });
  if (ask)
    await check("POST /api/si/ask answers, or fails with a clear problem", async () => {
      const issued = await (await get("/auth/guest", { method: "POST" })).json();
      const response = await get("/api/si/ask", {
        method: "POST",
        headers: { Authorization: `Bearer ${issued.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "Reply with the word ok.", max_tokens: 8 }),
      });
      const body = await response.json();
      if (response.status === 200) {
        expect(
          typeof body.output === "string" && response.headers.get("x-credits-used"),
          "no output or billing headers",
        );
        return `${body.provider}/${body.model}, ${body.credits_used} credits`;
      }
      expect(
        response.headers.get("content-type") === "application/problem+json" && response.status !== 500,
        `status ${response.status}`,
      );
      return `${response.status} ${body.code}: ${body.detail}`;
    });
  if (voice)
    await check("POST /api/voice/speech streams audio, or fails with a clear problem", async () => {
      const issued = await (await get("/auth/guest", { method: "POST" })).json();
      const response = await get("/api/voice/speech", {
        method: "POST",
        headers: { Authorization: `Bearer ${issued.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ text: "ok" }),
      });
      if (response.status === 200) {
        const audio = await response.arrayBuffer();
        const type = response.headers.get("content-type") ?? "";
        expect(type.startsWith("audio/") && audio.byteLength > 0, `content type ${type}, ${audio.byteLength} bytes`);
        expect(
          response.headers.get("x-credits-used") && response.headers.get("x-characters") === "2",
          "no billing headers",
        );
        return `${response.headers.get("x-model")}, ${audio.byteLength} bytes of ${type}`;
      }
      const body = await response.json();
      expect(
        response.headers.get("content-type") === "application/problem+json" && response.status !== 500,
        `status ${response.status}`,
      );
      return `${response.status} ${body.code}: ${body.detail}`;
    });
  await check("a forged token is 401 problem+json", async () => {
    const response = await get("/api/me", {
      headers: { Authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." },
    });
    expect(response.status === 401, `status ${response.status}`);
    expect(response.headers.get("content-type") === "application/problem+json", "not problem+json");
  });
  await check("malformed JSON is 400 problem+json", async () => {
    const response = await get("/auth/guest", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{",
    });
    const body = await response.json();
    expect(response.status === 400 && body.code === "malformed_json", `status ${response.status} code ${body.code}`);
  });
  await check("unknown route is 404 problem+json", async () => {
    const response = await get("/definitely/not/here");
    expect(
      response.status === 404 && response.headers.get("content-type") === "application/problem+json",
      `status ${response.status}`,
    );
  });
  return results;
}

/**
 * The proof as text: what was probed, from which commit, and one line per check.
 * @param {string} base
 * @param {{ name: string, ok: boolean, detail: string }[]} results
 * @param {{ at?: Date, commit?: string, options?: string }} [meta]
 */
export function report(base, results, { at = new Date(), commit, options } = {}) {
  const lines = [`Cognomega probe of ${base} at ${at.toISOString()}`];
  if (commit) lines.push(`commit ${commit}`);
  if (options) lines.push(`options ${options}`);
  for (const { name, ok, detail } of results)
    lines.push(`${ok ? "PASS" : "FAIL"}  ${name}${detail ? `  (${detail.slice(0, 200)})` : ""}`);
  const failed = results.filter((r) => !r.ok).length;
  lines.push(`probes: ${results.length - failed} of ${results.length} ok`);
  return lines.join("\n");
}

/**
 * The proof's file name, `<date>-<target>.txt`: the UTC date and the target's host (port included)
 * with anything but letters, digits, dots and dashes made `_`.
 */
export function proofName(base, at = new Date()) {
  return `${at.toISOString().slice(0, 10)}-${new URL(base).host.replace(/[^A-Za-z0-9.-]/g, "_")}.txt`;
}

/** Writes `text` as a new proof in `dir`; a second proof of a day gets `-2`, `-3`, … (never overwritten). */
export function writeProof(dir, name, text) {
  mkdirSync(dir, { recursive: true });
  let path = join(dir, name);
  for (let n = 2; existsSync(path); n++) path = join(dir, name.replace(/\.txt$/, `-${n}.txt`));
  writeFileSync(path, `${text}\n`);
  return path;
}

const USAGE = "usage: probe.mjs [BASE_URL] [--ask] [--voice] [--no-proof] [--out DIR]";

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const flags = new Set(["--ask", "--voice", "--no-proof"]);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args[outAt + 1] : undefined;
  const rest = args.filter((arg, index) => (outAt < 0 || (index !== outAt && index !== outAt + 1)) && !flags.has(arg));
  if (rest.length > 1 || rest.some((arg) => arg.startsWith("--")) || (outAt >= 0 && !out)) {
    console.error(USAGE);
    process.exit(2);
  }
  const base = rest[0] ?? "http://127.0.0.1:8787";
  try {
    new URL(base);
  } catch {
    console.error(`not a URL: ${base}\n${USAGE}`);
    process.exit(2);
  }
  const origin = process.env.PROBE_ORIGIN || "http://localhost:5173";
  const options = { origin, ask: args.includes("--ask"), voice: args.includes("--voice") };
  const at = new Date();
  const results = await probe(base, options);
  const cwd = fileURLToPath(new URL("..", import.meta.url));
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8" });
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, encoding: "utf8" });
  const text = report(base, results, {
    at,
    commit:
      head.status === 0 ? `${head.stdout.trim()}${dirty.stdout.trim() ? " with uncommitted changes" : ""}` : undefined,
    options: `origin=${origin} ask=${options.ask} voice=${options.voice}`,
  });
  console.log(text);
  if (!args.includes("--no-proof")) {
    const dir = out ? resolve(out) : fileURLToPath(new URL("./proofs/", import.meta.url));
    console.log(`proof written to ${writeProof(dir, proofName(base, at), text)}`);
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
