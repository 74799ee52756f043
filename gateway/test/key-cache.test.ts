import type { PublicJwk, TokenVerificationConfig } from "@cognomega/shared";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import { VerifiedTokens, verifyToken } from "../src/http/jwt";
import { MIN_REFRESH_MS, VerificationKeyCache } from "../src/http/key-cache";

async function publicJwk(kid: string): Promise<PublicJwk> {
  const pair = await generateKeyPair("RS256", { extractable: true });
  const jwk = await exportJWK(pair.publicKey);
  return { kty: "RSA", kid, n: jwk.n!, e: jwk.e!, alg: "RS256", use: "sig" };
}

function setup(initial: PublicJwk[]) {
  let now = 1_000_000;
  let keys = initial;
  let loads = 0;
  const cache = new VerificationKeyCache(() => now);
  const load = async (): Promise<TokenVerificationConfig> => {
    loads += 1;
    return { jwks: { keys }, issuer: "iss", audience: "aud" };
  };
  return {
    cache,
    lookup: (kid: string) => cache.lookup(kid, 60_000, load),
    advance: (ms: number) => {
      now += ms;
    },
    publish: (next: PublicJwk[]) => {
      keys = next;
    },
    loads: () => loads,
  };
}

describe("VerificationKeyCache", () => {
  it("loads once and serves known kids from memory", async () => {
    const a = await publicJwk("a");
    const c = setup([a]);
    expect(await (await c.lookup("a")).key).toBeDefined();
    await c.lookup("a");
    await c.lookup("a");
    expect(c.loads()).toBe(1);
  });

  it("single-flights concurrent loads", async () => {
    const c = setup([await publicJwk("a")]);
    await Promise.all(Array.from({ length: 20 }, () => c.lookup("a")));
    expect(c.loads()).toBe(1);
  });

  it("reloads after the TTL, so a retired key stops verifying", async () => {
    const a = await publicJwk("a");
    const b = await publicJwk("b");
    const c = setup([a, b]);
    expect((await c.lookup("b")).key).toBeDefined();
    c.publish([a]);
    c.advance(59_000);
    expect((await c.lookup("b")).key).toBeDefined();
    c.advance(1_000);
    expect((await c.lookup("b")).key).toBeUndefined();
    expect(c.loads()).toBe(2);
  });

  it("refreshes early for an unknown kid, at most once per MIN_REFRESH_MS", async () => {
    const a = await publicJwk("a");
    const c = setup([a]);
    await c.lookup("a");
    c.publish([a, await publicJwk("new")]);
    // Within the limit an unknown kid costs no load: a flood of random kids cannot hammer billing.
    for (let i = 0; i < 10; i++) expect((await c.lookup(`random-${i}`)).key).toBeUndefined();
    expect(c.loads()).toBe(1);
    c.advance(MIN_REFRESH_MS);
    expect((await c.lookup("new")).key).toBeDefined();
    expect(c.loads()).toBe(2);
  });
});

describe("VerifiedTokens", () => {
  async function signer(kid: string) {
    const pair = await generateKeyPair("RS256", { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    const published: PublicJwk = { kty: "RSA", kid, n: jwk.n!, e: jwk.e!, alg: "RS256", use: "sig" };
    const sign = (claims: Record<string, unknown> = {}) =>
      new SignJWT({ sub: "guest:cached", ...claims })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer("iss")
        .setAudience("aud")
        .setExpirationTime("1h")
        .sign(pair.privateKey);
    return { published, sign };
  }

  function verifier(initial: PublicJwk[]) {
    const c = setup(initial);
    const verified = new VerifiedTokens();
    let current = initial;
    const load = async (): Promise<TokenVerificationConfig> => ({
      jwks: { keys: current },
      issuer: "iss",
      audience: "aud",
    });
    return {
      verify: (token: string) => verifyToken(token, c.cache, 60_000, load, verified),
      publish(next: PublicJwk[]) {
        current = next;
      },
      advance: c.advance,
    };
  }

  it("skips the signature check for a token it verified, and never accepts one that fails", async () => {
    const key = await signer("a");
    const v = verifier([key.published]);
    const token = await key.sign();
    const spy = vi.spyOn(crypto.subtle, "verify");
    expect((await v.verify(token)).sub).toBe("guest:cached");
    expect((await v.verify(token)).sub).toBe("guest:cached");
    expect(spy).toHaveBeenCalledTimes(1);
    // A forged signature is never cached as valid, however often it is tried.
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(token.length - token.lastIndexOf(".") - 1)}`;
    await expect(v.verify(forged)).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(v.verify(forged)).rejects.toMatchObject({ code: "unauthenticated" });
    spy.mockRestore();
  });

  it("stops accepting a cached token once its key is retired or replaced", async () => {
    const key = await signer("a");
    const other = await signer("b");
    const v = verifier([key.published, other.published]);
    const token = await key.sign();
    await v.verify(token);
    // Retired: the next key snapshot no longer has kid "a".
    v.publish([other.published]);
    v.advance(61_000);
    await expect(v.verify(token)).rejects.toMatchObject({ code: "unauthenticated" });
    // Replaced under the same kid by a different key: the old signature no longer verifies.
    const imposter = await signer("b");
    const otherToken = await other.sign();
    await v.verify(otherToken);
    v.publish([imposter.published]);
    v.advance(61_000);
    await expect(v.verify(otherToken)).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("serves a cached token only until it expires", async () => {
    const key = await signer("a");
    const c = setup([key.published]);
    let clock = Date.now();
    const verified = new VerifiedTokens(10, () => clock);
    const load = async (): Promise<TokenVerificationConfig> => ({
      jwks: { keys: [key.published] },
      issuer: "iss",
      audience: "aud",
    });
    const token = await key.sign();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const spy = vi.spyOn(crypto.subtle, "verify");
    await verifyToken(token, c.cache, 60_000, load, verified);
    await verifyToken(token, c.cache, 60_000, load, verified);
    expect(spy).toHaveBeenCalledTimes(1);
    // Past its exp (and the 5 s tolerance) the entry is gone: the token is checked in full again.
    clock = (exp + 6) * 1000;
    await verifyToken(token, c.cache, 60_000, load, verified);
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
  });
});
