import { env } from "cloudflare:workers";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { expectProblem, gateway, guestToken, me, signToken, validClaims } from "./helpers";

describe("POST /auth/guest", () => {
  it("issues an RS256 guest token that verifies against the published JWKS", async () => {
    const response = await issueFrom(randomSlash64("1"));
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const issued = (await response.json()) as { token: string; token_type: string; expires_in: number; sub: string };
    expect(issued).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect(issued.sub).toMatch(/^guest:/);
    expect(decodeProtectedHeader(issued.token)).toMatchObject({ alg: "RS256", kid: env.TEST_KID });

    const jwks = await (await gateway("/.well-known/jwks.json")).json();
    const { payload } = await jwtVerify(issued.token, createLocalJWKSet(jwks as never), {
      issuer: "https://api.cognomega.com",
      audience: "cognomega",
      algorithms: ["RS256"],
    });
    expect(payload.sub).toBe(issued.sub);
    expect(payload.email).toBeUndefined();
  });

  it("adds the email claim when a valid email is given", async () => {
    const { token } = await guestToken("Grace@Example.COM");
    const body = (await (await me(token)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ email: "grace@example.com", source: "jwt", admin: false });
    expect(body.sub).toMatch(/^guest:/);
  });

  it("gives two guests two different subjects", async () => {
    const [a, b] = await Promise.all([guestToken(), guestToken()]);
    expect(a.sub).not.toBe(b.sub);
  });
});

describe("GET /.well-known/jwks.json", () => {
  it("serves the public keys with a public max-age and no private members", async () => {
    const response = await gateway("/.well-known/jwks.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("public, max-age=300");
    const body = (await response.json()) as { keys: Record<string, string>[] };
    const key = body.keys.find((k) => k.kid === env.TEST_KID);
    expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    for (const k of body.keys)
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(k).not.toHaveProperty(secret);
  });
});

describe("GET /api/me", () => {
  it("returns the identity from a token the service issued", async () => {
    const { token, sub } = await guestToken();
    const response = await me(token);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub, source: "jwt", admin: false });
  });

  it("accepts a token signed outside the service with the configured private key", async () => {
    const token = await signToken(validClaims({ sub: "guest:minted-elsewhere", em: "Ops@Example.com" }));
    expect(await (await me(token)).json()).toMatchObject({
      sub: "guest:minted-elsewhere",
      email: "ops@example.com",
      source: "jwt",
    });
  });

  it("falls back to an email account when a valid token has no sub", async () => {
    const token = await signToken(validClaims({ sub: undefined, email: "no-sub@example.com" }));
    expect(await (await me(token)).json()).toMatchObject({ sub: "email:no-sub@example.com", source: "jwt" });
  });

  it("401s an anonymous caller", async () => {
    expect((await gateway("/api/me")).status).toBe(401);
  });
});

describe("guest token issuance limits", () => {
  it("limits guest tokens per client address, so starter credits cannot be farmed", async () => {
    const address = `203.0.113.${Math.floor(Math.random() * 250)}`;
    const issue = (ip: string) => gateway("/auth/guest", { method: "POST", headers: { "CF-Connecting-IP": ip } });
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await issue(address)).status);
    // GUEST_TOKENS_PER_MINUTE defaults to 10.
    expect(statuses.every((s) => s === 200)).toBe(true);
    const limited = await issue(address);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
    const body = (await limited.json()) as { code: string; limits?: unknown };
    expect(body.code).toBe("rate_limited");
    expect(body.limits).toBeUndefined();
    // Another address is unaffected.
    expect((await issue(randomSlash64("1"))).status).toBe(200);
  });

  it("counts every address of one IPv6 /64 in one bucket, whatever form it is written in", async () => {
    const prefix = randomPrefix64();
    for (let i = 1; i <= 10; i++) expect((await issueFrom(`${prefix}:${i.toString(16)}:0:0:${i}`)).status).toBe(200);
    const [a, b, c, d] = prefix.split(":");
    // Uppercase, fully expanded, with a zone id: still the same /64.
    const limited = await issueFrom(`${a}:${b}:${c}:${d}:FFFF:FFFF:FFFF:FFFF%eth0`.toUpperCase());
    await expectProblem(limited, 429, "rate_limited");
    expect((await issueFrom(`${prefix}::`)).status).toBe(429);
  });

  it("does not share a bucket between two /64s", async () => {
    const prefix = randomPrefix64();
    for (let i = 0; i < 10; i++) await issueFrom(`${prefix}::${i + 1}`);
    expect((await issueFrom(`${prefix}::99`)).status).toBe(429);
    const [a, b, c, d] = prefix.split(":");
    const neighbour = `${a}:${b}:${c}:${(Number.parseInt(d as string, 16) ^ 1).toString(16)}::1`;
    expect((await issueFrom(neighbour)).status).toBe(200);
  });

  it("counts an IPv4-mapped IPv6 address as its IPv4 address", async () => {
    const octet = () => 1 + Math.floor(Math.random() * 250);
    const [x, y] = [octet(), octet()];
    const v4 = `198.51.${x}.${y}`;
    for (let i = 0; i < 10; i++) expect((await issueFrom(v4)).status).toBe(200);
    expect((await issueFrom(`::ffff:${v4}`)).status).toBe(429);
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    expect((await issueFrom(`0:0:0:0:0:FFFF:c633:${hex(x)}${hex(y)}`)).status).toBe(429);
  });

  it("puts requests without an address and with a malformed one in one shared bucket, never in none", async () => {
    const issue = (headers: Record<string, string>) => gateway("/auth/guest", { method: "POST", headers });
    // Other tests may have used the shared bucket this minute; a minute boundary resets it once at most.
    let status = 200;
    for (let i = 0; i < 21 && status === 200; i++) status = (await issue({})).status;
    expect(status).toBe(429);
    for (const garbage of [
      "not-an-address",
      "1.2.3.4.5",
      "::ffff:256.1.1.1",
      "1:2:3:4:5:6:7:8:9",
      ":::",
      "2001:db8::1::2",
    ])
      expect((await issue({ "CF-Connecting-IP": garbage })).status).toBe(429);
    // A well-formed address of its own is still served.
    expect((await issueFrom(randomSlash64("7"))).status).toBe(200);
  });
});

function issueFrom(address: string): Promise<Response> {
  return gateway("/auth/guest", { method: "POST", headers: { "CF-Connecting-IP": address } });
}

/** The first four groups of a random documentation-range IPv6 /64, e.g. `2001:db8:1a2b:3c4d`. */
function randomPrefix64(): string {
  const group = () => Math.floor(Math.random() * 0x10000).toString(16);
  return `2001:db8:${group()}:${group()}`;
}

function randomSlash64(host: string): string {
  return `${randomPrefix64()}::${host}`;
}
