import { env } from "cloudflare:workers";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, expectProblem, gateway, guestToken, me, signToken, validClaims } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };

// The gateway refreshes its key cache for an unknown kid at most once a second.
const pastRefreshLimit = () => new Promise((resolve) => setTimeout(resolve, 1100));

describe("signing key rotation", () => {
  it("verifies tokens from the old and the new key during the overlap, then retires the old one", async () => {
    const old = await guestToken();

    // Step 1: publish the next key's public half.
    const next = await generateKeyPair("RS256", { extractable: true });
    const publish = await gateway("/api/admin/keys", {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ kid: "gateway-test-2", public_key_pem: await exportSPKI(next.publicKey) }),
    });
    expect(publish.status).toBe(201);
    const jwks = (await (await gateway("/.well-known/jwks.json")).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([env.TEST_KID, "gateway-test-2"]));

    // Step 2 happens in the secret store (PRIVATE_KEY_PEM/KID); a token from the new key stands in.
    await pastRefreshLimit();
    const fresh = await signToken(validClaims({ sub: "guest:after-rotation" }), {
      kid: "gateway-test-2",
      privateKeyPem: await exportPKCS8(next.privateKey),
    });
    expect(await (await me(fresh)).json()).toMatchObject({ sub: "guest:after-rotation", source: "jwt" });
    expect(await (await me(old.token)).json()).toMatchObject({ sub: old.sub, source: "jwt" });

    // The listing shows which key signs.
    const listing = (await (await gateway("/api/admin/keys", { headers: admin })).json()) as {
      keys: { kid: string; signing: boolean }[];
    };
    expect(listing.keys.find((k) => k.kid === env.TEST_KID)?.signing).toBe(true);
    expect(listing.keys.find((k) => k.kid === "gateway-test-2")?.signing).toBe(false);

    // The signing key can never be retired (the overlap window is covered by billing's tests).
    await expectProblem(
      await gateway(`/api/admin/keys/${env.TEST_KID}?force=true`, { method: "DELETE", headers: admin }),
      409,
      "conflict",
    );

    // A compromised key goes at once with force.
    const forced = await gateway("/api/admin/keys/gateway-test-2?force=true", { method: "DELETE", headers: admin });
    expect(await forced.json()).toEqual({ retired: "gateway-test-2" });
    const after = (await (await gateway("/.well-known/jwks.json")).json()) as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid)).not.toContain("gateway-test-2");
  });

  it("guards every key route with the admin key", async () => {
    await expectProblem(await gateway("/api/admin/keys"), 401, "unauthenticated");
    await expectProblem(
      await gateway("/api/admin/keys", { method: "POST", headers: { "X-Admin-Key": "nope" } }),
      403,
      "forbidden",
    );
    await expectProblem(await gateway("/api/admin/keys/x", { method: "DELETE" }), 401, "unauthenticated");
  });

  it("400s a bad key publication", async () => {
    await expectProblem(
      await gateway("/api/admin/keys", { method: "POST", headers: admin, body: "{}" }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await gateway("/api/admin/keys", {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ kid: "k", public_key_pem: "junk" }),
      }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await gateway("/api/admin/keys/unknown-kid?force=true", { method: "DELETE", headers: admin }),
      404,
      "not_found",
    );
  });
});
