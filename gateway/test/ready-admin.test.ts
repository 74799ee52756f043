import { describe, expect, it } from "vitest";
import { ADMIN_KEY, ADMIN_KEY_PREVIOUS, expectProblem, gateway, gatewayWith } from "./helpers";

describe("GET /ready", () => {
  it("is 200 when every bound service answers its health RPC", async () => {
    const response = await gateway("/ready");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      services: {
        billing: "ok",
        si: "ok",
        jobs: "ok",
        uploads: "ok",
        rag: "ok",
        advisor: "ok",
        voice: "ok",
        scaffold: "ok",
        analytics: "ok",
      },
    });
  });

  it("is 503 naming the service whose health RPC fails", async () => {
    const failing = { health: () => Promise.reject(new Error("boom")) } as unknown as GatewayEnv["BILLING"];
    const body = await expectProblem(await gatewayWith({ BILLING: failing }, "/ready"), 503, "upstream_unavailable");
    expect(body.failed).toEqual(["billing"]);
    expect(body.services).toEqual({
      billing: "unavailable",
      si: "ok",
      jobs: "ok",
      uploads: "ok",
      rag: "ok",
      advisor: "ok",
      voice: "ok",
      scaffold: "ok",
      analytics: "ok",
    });
    expect(body.detail).toContain("billing");
  });
});

describe("admin guard", () => {
  it("accepts the current key in X-Admin-Key or X-Admin-Token, and the previous key", async () => {
    const variants: Record<string, string>[] = [
      { "X-Admin-Key": ADMIN_KEY },
      { "X-Admin-Token": ADMIN_KEY },
      { "X-Admin-Key": ADMIN_KEY_PREVIOUS },
    ];
    for (const headers of variants) {
      const response = await gateway("/api/admin/ping", { headers });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ ok: true, admin: true });
    }
  });

  it("401s with no key and 403s a wrong key", async () => {
    await expectProblem(await gateway("/api/admin/ping"), 401, "unauthenticated");
    for (const key of ["wrong", `${ADMIN_KEY}x`, ADMIN_KEY.slice(0, -1), `${ADMIN_KEY} extra`, "x".repeat(10_000)]) {
      await expectProblem(await gateway("/api/admin/ping", { headers: { "X-Admin-Key": key } }), 403, "forbidden");
    }
  });

  it("no longer accepts a previous key once ADMIN_KEY_PREVIOUS is cleared", async () => {
    const response = await gatewayWith({ ADMIN_KEY_PREVIOUS: "" }, "/api/admin/ping", {
      headers: { "X-Admin-Key": ADMIN_KEY_PREVIOUS },
    });
    await expectProblem(response, 403, "forbidden");
  });

  it("answers 503 not_configured when no ADMIN_KEY is set, key or not", async () => {
    await expectProblem(await gatewayWith({ ADMIN_KEY: "" }, "/api/admin/ping"), 503, "not_configured");
    const withKey = await gatewayWith({ ADMIN_KEY: "" }, "/api/admin/ping", { headers: { "X-Admin-Key": "" } });
    await expectProblem(withKey, 503, "not_configured");
  });
});
