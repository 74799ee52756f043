#!/usr/bin/env node
// Scripted checks against any Cognomega deployment: `node ops/probe.mjs [BASE_URL] [--proof]`.
// BASE_URL defaults to http://127.0.0.1:8787. PROBE_ORIGIN names an allowed origin to test CORS
// with (default http://localhost:5173, allowed by `npm start`). With --proof the report is also
// written to ops/proofs/. Exit code 1 when any check fails.
import { mkdirSync, writeFileSync } from "node:fs";

const DENIED_ORIGIN = "https://denied.invalid";

/** Runs every probe against `base`; returns [{ name, ok, detail }]. */
export async function probe(base, { origin = "http://localhost:5173" } = {}) {
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
    for (const key of body.keys)
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(!(secret in key), `private member ${secret}`);
    kids = body.keys.map((key) => key.kid);
    return `kids: ${kids.join(", ")}`;
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
  await check("POST /api/si/ask answers, or fails with a clear problem", async () => {
    const issued = await (await get("/auth/guest", { method: "POST" })).json();
    const response = await get("/api/si/ask", {
      method: "POST",
      headers: { Authorization: `Bearer ${issued.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "Reply with the word ok.", max_tokens: 8 }),
    });
    const body = await response.json();
    if (response.status === 200) {
      expect(typeof body.output === "string" && response.headers.get("x-credits-used"), "no output or billing headers");
      return `${body.provider}/${body.model}, ${body.credits_used} credits`;
    }
    expect(
      response.headers.get("content-type") === "application/problem+json" && response.status !== 500,
      `status ${response.status}`,
    );
    return `${response.status} ${body.code}: ${body.detail}`;
  });
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

/** Prints results as text; returns the report. */
export function report(base, results) {
  const lines = [`Cognomega probe of ${base} at ${new Date().toISOString()}`];
  for (const { name, ok, detail } of results)
    lines.push(`${ok ? "PASS" : "FAIL"}  ${name}${detail ? `  (${detail.slice(0, 200)})` : ""}`);
  const failed = results.filter((r) => !r.ok).length;
  lines.push(`probes: ${results.length - failed} of ${results.length} ok`);
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const base = args.find((arg) => !arg.startsWith("--")) ?? "http://127.0.0.1:8787";
  const results = await probe(base, { origin: process.env.PROBE_ORIGIN ?? "http://localhost:5173" });
  const text = report(base, results);
  console.log(text);
  if (args.includes("--proof")) {
    const dir = new URL("./proofs/", import.meta.url);
    mkdirSync(dir, { recursive: true });
    const name = `probe-${new URL(base).host.replace(/[^A-Za-z0-9.-]/g, "_")}-${new Date().toISOString().replace(/[:.]/g, "-")}.txt`;
    writeFileSync(new URL(name, dir), `${text}\n`);
    console.log(`proof written to ops/proofs/${name}`);
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
