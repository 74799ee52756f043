import { describe, expect, it } from "vitest";
import { ADMIN_KEY, expectProblem, gateway, gatewayWith, guestToken } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY };

async function identity(response: Response): Promise<Record<string, unknown>> {
  expect(response.status).toBe(200);
  return response.json();
}

describe("identity resolution: ?email= → X-User-Email → Bearer JWT", () => {
  it("ignores ?email= and X-User-Email from an ordinary caller: the JWT decides", async () => {
    const { token, sub } = await guestToken();
    const response = await gateway("/api/me?email=victim@example.com", {
      headers: { Authorization: `Bearer ${token}`, "X-User-Email": "victim@example.com" },
    });
    expect(await identity(response)).toMatchObject({ sub, source: "jwt", admin: false });
  });

  it("does not let an unauthenticated email claim stand in for a token", async () => {
    await expectProblem(await gateway("/api/me?email=victim@example.com"), 401, "unauthenticated");
    await expectProblem(
      await gateway("/api/me", { headers: { "X-User-Email": "victim@example.com" } }),
      401,
      "unauthenticated",
    );
  });

  it("honours ?email= for an admin acting for a user, before the header and the JWT", async () => {
    const { token } = await guestToken();
    const response = await gateway("/api/me?email=User@Example.com", {
      headers: { ...admin, "X-User-Email": "other@example.com", Authorization: `Bearer ${token}` },
    });
    expect(await identity(response)).toMatchObject({
      sub: "email:user@example.com",
      email: "user@example.com",
      source: "query",
      admin: true,
    });
  });

  it("honours X-User-Email for an admin when there is no ?email=", async () => {
    const response = await gateway("/api/me", { headers: { ...admin, "x-user-email": "header@example.com" } });
    expect(await identity(response)).toMatchObject({ sub: "email:header@example.com", source: "header", admin: true });
  });

  it("resolves an admin key alone to the operator", async () => {
    expect(await identity(await gateway("/api/me", { headers: admin }))).toMatchObject({
      sub: "admin",
      source: "admin",
      admin: true,
    });
  });

  it("uses the JWT when an admin names no user", async () => {
    const { token, sub } = await guestToken();
    const response = await gateway("/api/me", { headers: { ...admin, Authorization: `Bearer ${token}` } });
    expect(await identity(response)).toMatchObject({ sub, source: "jwt", admin: true });
  });

  it("ignores email claims with a wrong admin key", async () => {
    await expectProblem(
      await gateway("/api/me?email=a@example.com", { headers: { "X-Admin-Key": "wrong" } }),
      401,
      "unauthenticated",
    );
  });

  it("honours email claims from anyone when TRUST_EMAIL_IDENTITY is on", async () => {
    const byQuery = await gatewayWith({ TRUST_EMAIL_IDENTITY: "true" }, "/api/me?email=legacy@example.com");
    expect(await identity(byQuery)).toMatchObject({ sub: "email:legacy@example.com", source: "query", admin: false });
    const byHeader = await gatewayWith({ TRUST_EMAIL_IDENTITY: "true" }, "/api/me", {
      headers: { "X-User-Email": "legacy@example.com" },
    });
    expect(await identity(byHeader)).toMatchObject({ sub: "email:legacy@example.com", source: "header" });
  });

  it("400s an honoured email claim that is not an email", async () => {
    for (const bad of ["nope", "a@", "@b.co", "a b@c.co", `${"x".repeat(250)}@example.com`]) {
      await expectProblem(
        await gateway(`/api/me?email=${encodeURIComponent(bad)}`, { headers: admin }),
        400,
        "invalid_input",
      );
    }
  });
});
