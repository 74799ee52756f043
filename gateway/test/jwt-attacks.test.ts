import { env } from "cloudflare:workers";
import { base64url, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { expectProblem, gateway, guestToken, me, signToken, validClaims } from "./helpers";

const encoder = new TextEncoder();
const b64 = (value: unknown) => base64url.encode(encoder.encode(JSON.stringify(value)));

async function expectRejected(token: string, reason: string | RegExp): Promise<void> {
  const body = await expectProblem(await me(token), 401, "unauthenticated");
  expect(body.detail).toMatch(reason);
}

describe("hostile tokens are 401 problem+json", () => {
  it("alg: none", async () => {
    const token = `${b64({ alg: "none", kid: env.TEST_KID, typ: "JWT" })}.${b64(validClaims())}.`;
    await expectRejected(token, /not a compact JWT|alg/);
    // Even with a junk signature segment present.
    await expectRejected(`${b64({ alg: "none", kid: env.TEST_KID })}.${b64(validClaims())}.AAAA`, /alg none/);
  });

  it("HS256 signed with the RSA public key as the HMAC secret", async () => {
    const secret = encoder.encode(env.TEST_PUBLIC_KEY_PEM);
    const token = await new SignJWT(validClaims()).setProtectedHeader({ alg: "HS256", kid: env.TEST_KID }).sign(secret);
    await expectRejected(token, /alg HS256/);
  });

  it("unknown kid", async () => {
    await expectRejected(await signToken(validClaims(), { kid: "who-is-this" }), /unknown kid/);
  });

  it("missing kid", async () => {
    await expectRejected(await signToken(validClaims(), { kid: null }), /missing kid/);
  });

  it("expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await signToken(validClaims({ iat: now - 7200, exp: now - 3600 })), /expired/);
  });

  it("nbf in the future", async () => {
    await expectRejected(await signToken(validClaims({ nbf: Math.floor(Date.now() / 1000) + 3600 })), /nbf/);
  });

  it("no exp", async () => {
    await expectRejected(await signToken(validClaims({ exp: undefined })), /exp/);
  });

  it("wrong iss", async () => {
    await expectRejected(await signToken(validClaims({ iss: "https://evil.example" })), /issuer/);
  });

  it("missing iss and aud", async () => {
    await expectRejected(await signToken(validClaims({ iss: undefined })), /iss/);
    await expectRejected(await signToken(validClaims({ aud: undefined })), /aud/);
  });

  it("wrong aud", async () => {
    await expectRejected(await signToken(validClaims({ aud: "someone-else" })), /audience/);
  });

  it("tampered payload", async () => {
    const { token } = await guestToken();
    const [header, , signature] = token.split(".");
    const forged = `${header}.${b64(validClaims({ sub: "guest:victim" }))}.${signature}`;
    await expectRejected(forged, /signature/);
  });

  it("tampered signature", async () => {
    const { token } = await guestToken();
    const [header, payload, signature = ""] = token.split(".");
    const flipped = `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    await expectRejected(`${header}.${payload}.${flipped}`, /signature/);
  });

  it("a token signed by another key under the published kid", async () => {
    const other = await generateKeyPair("RS256", { extractable: true });
    const token = await signToken(validClaims(), { privateKeyPem: await exportPKCS8(other.privateKey) });
    await expectRejected(token, /signature/);
  });

  it("embedded jwk header", async () => {
    const other = await generateKeyPair("RS256", { extractable: true });
    const jwk = await exportJWK(other.publicKey);
    const token = await signToken(validClaims(), {
      privateKeyPem: await exportPKCS8(other.privateKey),
      header: { jwk },
    });
    await expectRejected(token, /jwk/);
  });

  it("jku header", async () => {
    await expectRejected(await signToken(validClaims(), { header: { jku: "https://evil.example/jwks.json" } }), /jku/);
  });

  it("unknown crit", async () => {
    // jose refuses to sign an unknown extension, so this one is signed by hand.
    const signingInput = `${b64({ alg: "RS256", kid: env.TEST_KID, crit: ["exp2"], exp2: 1 })}.${b64(validClaims())}`;
    const key = await importPKCS8(env.TEST_PRIVATE_KEY_PEM, "RS256");
    const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, encoder.encode(signingInput));
    await expectRejected(`${signingInput}.${base64url.encode(new Uint8Array(signature))}`, /crit/);
  });

  it("a token over the length cap", async () => {
    const token = await signToken(validClaims({ pad: "x".repeat(9000) }));
    expect(token.length).toBeGreaterThan(8192);
    await expectRejected(token, /longer than 8192/);
  });

  it("a string that is not a JWT", async () => {
    for (const junk of ["hello", "a.b", "a.b.c.d", "....", "eyJ.eyJ.e!"])
      await expectRejected(junk, /compact JWT|unreadable/);
  });

  it("a malformed Authorization header", async () => {
    for (const value of ["Basic dXNlcjpwYXNz", "Bearer", "Token abc.def.ghi", "Bearer a b"]) {
      const body = await expectProblem(
        await gateway("/api/me", { headers: { Authorization: value } }),
        401,
        "unauthenticated",
      );
      expect(body.detail).toBeTruthy();
    }
  });
});
