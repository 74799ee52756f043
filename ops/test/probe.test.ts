import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probe, proofName, report } from "../probe.mjs";
import { ALLOWED_ORIGIN, type Fault, startFakeGateway } from "./fake-gateway.js";

const probeScript = new URL("../probe.mjs", import.meta.url).pathname;
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [probeScript, ...args], {
      env: { ...process.env, PROBE_ORIGIN: ALLOWED_ORIGIN },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function failedChecks(faults: Fault[], options: { ask?: boolean } = {}): Promise<string[]> {
  const gateway = await startFakeGateway(new Set(faults));
  try {
    const results = await probe(gateway.url, { origin: ALLOWED_ORIGIN, ...options });
    return results.filter((result) => !result.ok).map((result) => result.name);
  } finally {
    await gateway.close();
  }
}

describe("probe against a healthy gateway", () => {
  it("passes every check, and makes no SI ask unless asked to", async () => {
    const gateway = await startFakeGateway();
    try {
      const results = await probe(gateway.url, { origin: ALLOWED_ORIGIN });
      expect(results.filter((result) => !result.ok)).toEqual([]);
      const names = results.map((result) => result.name);
      for (const expected of [
        "GET /ready is 200",
        `CORS allows ${ALLOWED_ORIGIN}`,
        "CORS denies https://denied.invalid",
        "JWKS serves public keys only, cacheable",
        "HEAD of the JWKS is 200 without a body",
        "POST /auth/guest issues a token /api/me accepts",
      ])
        expect(names).toContain(expected);
      expect(gateway.requests).toContain("HEAD /.well-known/jwks.json");
      expect(gateway.requests).not.toContain("POST /api/si/ask");
    } finally {
      await gateway.close();
    }
  });

  it("with ask, asks SI once and accepts a clear 503 problem", async () => {
    const gateway = await startFakeGateway();
    try {
      const results = await probe(gateway.url, { origin: ALLOWED_ORIGIN, ask: true });
      const asked = results.find((result) => result.name.startsWith("POST /api/si/ask"));
      expect(asked).toMatchObject({ ok: true, detail: "503 not_configured: not_configured" });
      expect(gateway.requests.filter((line) => line === "POST /api/si/ask")).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  });
});

describe("probe detects a broken gateway", () => {
  it.each<[Fault, string[]]>([
    ["not-ready", ["GET /ready is 200"]],
    ["cors-allows-anyone", ["CORS denies https://denied.invalid"]],
    ["cors-denies-allowed", [`CORS allows ${ALLOWED_ORIGIN}`, "preflight is 204 with a max age"]],
    ["jwks-private-member", ["JWKS serves public keys only, cacheable"]],
    ["jwks-head-unsupported", ["HEAD of the JWKS is 200 without a body"]],
    ["guest-kid-unknown", ["POST /auth/guest issues a token /api/me accepts"]],
  ])("%s fails exactly %j", async (fault, expected) => {
    expect(await failedChecks([fault])).toEqual(expected);
  });

  it("an SI ask answering 500 fails the ask check", async () => {
    expect(await failedChecks(["ask-500"], { ask: true })).toEqual([
      "POST /api/si/ask answers, or fails with a clear problem",
    ]);
  });

  it("an unreachable target fails every check", async () => {
    const gateway = await startFakeGateway();
    await gateway.close();
    const results = await probe(gateway.url, { origin: ALLOWED_ORIGIN });
    expect(results.length).toBeGreaterThan(5);
    expect(results.every((result) => !result.ok)).toBe(true);
  });
});

describe("npm run probe", () => {
  it("writes <date>-<target>.txt, exits 0 on a pass and 1 on a failure, never overwriting a proof", async () => {
    const out = mkdtempSync(join(tmpdir(), "probe-proofs-"));
    scratch.push(out);
    const healthy = await startFakeGateway();
    const broken = await startFakeGateway(new Set<Fault>(["cors-allows-anyone"]));
    try {
      const passed = await run([healthy.url, "--out", out]);
      expect(passed.code).toBe(0);
      const name = proofName(healthy.url);
      expect(name).toMatch(/^\d{4}-\d{2}-\d{2}-127\.0\.0\.1_\d+\.txt$/);
      const proof = readFileSync(join(out, name), "utf8");
      expect(proof).toContain(`Cognomega probe of ${healthy.url}`);
      expect(proof).toMatch(/^probes: (\d+) of \1 ok$/m);
      expect(proof).not.toContain("FAIL");

      const again = await run([healthy.url, "--out", out, "--ask"]);
      expect(again.code).toBe(0);
      expect(readFileSync(join(out, name.replace(/\.txt$/, "-2.txt")), "utf8")).toContain("ask=true");

      const failed = await run([broken.url, "--out", out]);
      expect(failed.code).toBe(1);
      const failedProof = readFileSync(join(out, proofName(broken.url)), "utf8");
      expect(failedProof).toContain("FAIL  CORS denies https://denied.invalid");
      expect(readdirSync(out)).toHaveLength(3);
    } finally {
      await healthy.close();
      await broken.close();
    }
  });

  it("--no-proof writes nothing; a bad argument is a usage error", async () => {
    const out = mkdtempSync(join(tmpdir(), "probe-proofs-"));
    scratch.push(out);
    const gateway = await startFakeGateway();
    try {
      expect((await run([gateway.url, "--out", out, "--no-proof"])).code).toBe(0);
      expect(readdirSync(out)).toEqual([]);
      expect((await run(["not a url"])).code).toBe(2);
      expect((await run([gateway.url, "--bogus"])).code).toBe(2);
      expect((await run([gateway.url, "--out"])).code).toBe(2);
    } finally {
      await gateway.close();
    }
  });

  it("names the target's host with anything unsafe replaced", () => {
    const at = new Date("2026-12-01T17:00:00Z");
    expect(proofName("https://api.cognomega.com", at)).toBe("2026-12-01-api.cognomega.com.txt");
    expect(proofName("http://[::1]:8787/", at)).toBe("2026-12-01-___1__8787.txt");
    expect(report("https://x.test", [{ name: "a", ok: false, detail: "why" }], { at })).toBe(
      "Cognomega probe of https://x.test at 2026-12-01T17:00:00.000Z\nFAIL  a  (why)\nprobes: 0 of 1 ok",
    );
  });
});
