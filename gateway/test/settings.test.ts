import { describe, expect, it } from "vitest";
import { ADMIN_KEY, ALLOWED_ORIGIN, expectProblem, gatewayWith } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY };

describe("gateway settings", () => {
  it("answers 503 not_configured naming a malformed setting, instead of quietly using a default", async () => {
    const ping = await gatewayWith({ TRUST_EMAIL_IDENTITY: "maybe" }, "/api/admin/ping", { headers: admin });
    const body = await expectProblem(ping, 503, "not_configured");
    expect(body.detail).toContain("TRUST_EMAIL_IDENTITY");

    const adjust = await gatewayWith({ MAX_JSON_BYTES: "1MB" }, "/api/credits/adjust", {
      method: "POST",
      headers: { ...admin, "Content-Type": "application/json", "Idempotency-Key": "settings-test-1" },
      body: JSON.stringify({ account: "guest:nobody", delta: 1, reason: "settings test" }),
    });
    expect((await expectProblem(adjust, 503, "not_configured")).detail).toContain("MAX_JSON_BYTES");
  });

  it("reads a blank setting as its default", async () => {
    const ping = await gatewayWith({ TRUST_EMAIL_IDENTITY: " ", MAX_JSON_BYTES: "" }, "/api/admin/ping", {
      headers: admin,
    });
    expect(ping.status).toBe(200);
  });

  it("allows no origin while a setting is malformed, preflights included", async () => {
    const preflight = (overrides: Partial<GatewayEnv>) =>
      gatewayWith(overrides, "/api/me", {
        method: "OPTIONS",
        headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET" },
      });
    expect((await preflight({})).headers.get("Access-Control-Allow-Origin")).toBe(ALLOWED_ORIGIN);
    expect((await preflight({ JWKS_CACHE_TTL_SECONDS: "-1" })).headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});
