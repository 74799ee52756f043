import { env as runnerEnv } from "cloudflare:workers";
import { isServiceError } from "@cognomega/shared";
import { describe, expect, it, vi } from "vitest";
import { env } from "../../test-support/mesh-env";
import { expectProblem, gateway, gatewayWith } from "./helpers";

const json = { "Content-Type": "application/json" };

describe("errors as problem+json", () => {
  it("404s an unknown route", async () => {
    const body = await expectProblem(await gateway("/nope"), 404, "not_found");
    expect(body.detail).toContain("/nope");
  });

  it("405s a wrong method with the Allow header", async () => {
    const response = await gateway("/auth/guest", { method: "GET" });
    await expectProblem(response, 405, "method_not_allowed");
    expect(response.headers.get("Allow")).toBe("OPTIONS, POST");

    const jwks = await gateway("/.well-known/jwks.json", { method: "DELETE" });
    await expectProblem(jwks, 405, "method_not_allowed");
    expect(jwks.headers.get("Allow")).toBe("GET, HEAD, OPTIONS");
  });

  it("answers HEAD like GET without a body", async () => {
    const response = await gateway("/ready", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    expect(response.headers.get("Content-Type")).toContain("application/json");
  });

  it("400s malformed JSON, and JSON that is not UTF-8", async () => {
    for (const body of ["{", '{"email":}', "nul", "[1,2"]) {
      await expectProblem(await gateway("/auth/guest", { method: "POST", headers: json, body }), 400, "malformed_json");
    }
    const latin1 = new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]);
    await expectProblem(
      await gateway("/auth/guest", { method: "POST", headers: json, body: latin1 }),
      400,
      "malformed_json",
    );
  });

  it("400s a valid JSON body of the wrong shape, with field paths", async () => {
    for (const body of [{ email: 42 }, { email: "nope" }, [], "text", { unexpected: true }]) {
      const problem = await expectProblem(
        await gateway("/auth/guest", { method: "POST", headers: json, body: JSON.stringify(body) }),
        400,
        "invalid_input",
      );
      expect(Array.isArray(problem.issues)).toBe(true);
    }
    const problem = await expectProblem(
      await gateway("/auth/guest", { method: "POST", headers: json, body: JSON.stringify({ email: "nope" }) }),
      400,
      "invalid_input",
    );
    expect(problem.issues).toEqual([{ path: "email", message: "email must be a valid address" }]);
  });

  it("413s a JSON body over MAX_JSON_BYTES, declared or streamed", async () => {
    const big = JSON.stringify({ email: `${"a".repeat(5000)}@example.com` });
    await expectProblem(
      await gateway("/auth/guest", { method: "POST", headers: json, body: big }),
      413,
      "payload_too_large",
    );

    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
        controller.close();
      },
    });
    const chunked = await gateway("/auth/guest", { method: "POST", headers: json, body: stream });
    await expectProblem(chunked, 413, "payload_too_large");
  });

  it("keeps a well-formed incoming X-Request-Id and replaces a malformed one", async () => {
    const kept = await gateway("/ready", { headers: { "X-Request-Id": "client-req-12345678" } });
    expect(kept.headers.get("X-Request-Id")).toBe("client-req-12345678");
    for (const bad of ["short", "has space in it", "x".repeat(200), 'evil"quote-1234']) {
      const replaced = await gateway("/ready", { headers: { "X-Request-Id": bad } });
      expect(replaced.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    const problem = await expectProblem(
      await gateway("/nope", { headers: { "X-Request-Id": "trace-abcdef-0001" } }),
      404,
      "not_found",
    );
    expect(problem.request_id).toBe("trace-abcdef-0001");
  });

  it("refuses a body over MAX_JSON_BYTES whose declared length understates it", async () => {
    const big = JSON.stringify({ email: `${"a".repeat(5000)}@example.com` });
    const response = await gatewayWith({ MAX_JSON_BYTES: "4096" }, "/auth/guest", {
      method: "POST",
      headers: { ...json, "Content-Length": "20" },
      body: big,
    });
    await expectProblem(response, 413, "payload_too_large");
  });

  it("logs failed requests with their request id, and successes only with REQUEST_LOG=all", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    try {
      const requests = () =>
        lines.flatMap((line) => {
          const entry = JSON.parse(line) as { msg?: string; status?: number; request_id?: string; level?: string };
          return entry.msg === "request" ? [entry] : [];
        });
      await gatewayWith({}, "/ready", { headers: { "X-Request-Id": "log-ok-000001" } });
      await gatewayWith({}, "/nope", { headers: { "X-Request-Id": "log-missing-0001" } });
      expect(requests()).toEqual([expect.objectContaining({ request_id: "log-missing-0001", status: 404 })]);
      lines.length = 0;
      await gatewayWith({ REQUEST_LOG: "all" }, "/ready", { headers: { "X-Request-Id": "log-ok-000002" } });
      expect(requests()).toEqual([
        expect.objectContaining({ request_id: "log-ok-000002", status: 200, level: "info" }),
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it("marks JSON answers Cache-Control: no-store", async () => {
    expect((await gateway("/ready")).headers.get("Cache-Control")).toBe("no-store");
    expect((await gateway("/nope")).headers.get("Cache-Control")).toBe("no-store");
  });

  it("answers an unexpected exception with a 500 problem that reveals no internals", async () => {
    const exploding = {
      issueGuestToken: () => Promise.reject(new TypeError("db password hunter2 at /srv/billing/src/keys.ts:42")),
    } as unknown as GatewayEnv["BILLING"];
    const response = await gatewayWith({ BILLING: exploding }, "/auth/guest", { method: "POST" });
    const text = await response.clone().text();
    await expectProblem(response, 500, "internal");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("keys.ts");
    expect(text).not.toContain("TypeError");
  });
});

describe("ServiceError across RPC", () => {
  const badEmail = [{ email: "not-an-email" }, { requestId: "rpc-test-000001" }, null] as const;

  it("crosses the binding as a value, so workerd logs no uncaught exception for it", async () => {
    // The raw binding, as workerd hands it over: the callee answered instead of throwing.
    const answer: unknown = await runnerEnv.BILLING.issueGuestToken(...badEmail);
    expect(answer).not.toHaveProperty("token");
    expect(JSON.stringify(answer)).toContain("invalid_input");
  });

  it("arrives at the caller as a ServiceError with name, code, status and details intact", async () => {
    let caught: unknown;
    try {
      await env.BILLING.issueGuestToken(...badEmail);
    } catch (error) {
      caught = error;
    }
    expect(isServiceError(caught)).toBe(true);
    expect(caught).toMatchObject({
      name: "ServiceError",
      code: "invalid_input",
      status: 400,
      details: { issues: [{ path: "email", message: "email must be a valid address" }] },
    });
  });

  it("maps a service's code to its HTTP status through the gateway", async () => {
    const billingErrorResponse = await gateway("/api/admin/keys/gateway-test-1", {
      method: "DELETE",
      headers: { "X-Admin-Key": "test-admin-key-current" },
    });
    const body = await expectProblem(billingErrorResponse, 409, "conflict");
    expect(body.detail).toContain("current signing key");
  });
});
