import type { PublicJwk, TokenVerificationConfig } from "@cognomega/shared";
import { exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
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
