import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { isServiceError } from "@cognomega/shared";
import { decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { describe, expect, it, vi } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { BillingService } from "../src/index";

const call = { requestId: "test-request-0001" };

function billing(overrides: Partial<BillingEnv> = {}): BillingService {
  return new BillingService(createExecutionContext(), { ...env, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("guest tokens", () => {
  it("signs RS256 with the configured kid and the documented claims", async () => {
    const issued = await billing().issueGuestToken({ email: "Ada@Example.com" }, call, uniqueClientAddress());
    expect(issued.token_type).toBe("Bearer");
    expect(issued.expires_in).toBe(3600);
    expect(issued.sub).toMatch(/^guest:[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: "RS256", kid: "billing-test-1", typ: "JWT" });

    const key = await importSPKI(env.TEST_PUBLIC_KEY_PEM, "RS256");
    const { payload } = await jwtVerify(issued.token, key, {
      issuer: "https://api.cognomega.com",
      audience: "cognomega",
    });
    expect(payload.sub).toBe(issued.sub);
    expect(payload.email).toBe("ada@example.com");
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe("string");
  });

  it("omits the email claim when none is given, and honours the configured TTL", async () => {
    const issued = await billing({ GUEST_TOKEN_TTL_SECONDS: "120" }).issueGuestToken(
      undefined,
      call,
      uniqueClientAddress(),
    );
    const key = await importSPKI(env.TEST_PUBLIC_KEY_PEM, "RS256");
    const { payload } = await jwtVerify(issued.token, key);
    expect(payload.email).toBeUndefined();
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(issued.expires_in).toBe(120);
  });

  it("rejects an invalid email and unknown fields as invalid_input with field paths", async () => {
    const error = await rejection(billing().issueGuestToken({ email: "not-an-email" }, call, uniqueClientAddress()));
    expect(isServiceError(error) && error.code).toBe("invalid_input");
    expect((error as { details: { issues: { path: string }[] } }).details.issues[0]?.path).toBe("email");

    const extra = await rejection(
      billing().issueGuestToken({ email: "a@b.co", admin: true }, call, uniqueClientAddress()),
    );
    expect(isServiceError(extra) && extra.code).toBe("invalid_input");
  });

  it("refuses an invalid TTL setting as not_configured", async () => {
    for (const ttl of ["0", "abc", "3.5", "99999999"]) {
      const error = await rejection(
        billing({ GUEST_TOKEN_TTL_SECONDS: ttl }).issueGuestToken({}, call, uniqueClientAddress()),
      );
      expect(isServiceError(error) && error.code).toBe("not_configured");
    }
  });
});

describe("signing keys", () => {
  it("publishes the configured key's public half, and never a private member", async () => {
    const { jwks, maxAgeSeconds } = await billing().jwks(call);
    expect(maxAgeSeconds).toBe(300);
    const key = jwks.keys.find((k) => k.kid === "billing-test-1");
    expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", e: "AQAB" });
    for (const k of jwks.keys) {
      expect(Object.keys(k).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    }
    const stored = await env.KEYS.get("jwks", "json");
    expect(stored).toEqual(jwks);
  });

  it("fails as not_configured in production without secrets", async () => {
    const error = await rejection(
      billing({ PRIVATE_KEY_PEM: "", KID: "", ENVIRONMENT: "production" }).issueGuestToken(
        {},
        call,
        uniqueClientAddress(),
      ),
    );
    expect(isServiceError(error) && error.code).toBe("not_configured");
  });

  it("fails as not_configured when only one of PRIVATE_KEY_PEM and KID is set", async () => {
    const error = await rejection(billing({ KID: "" }).issueGuestToken({}, call, uniqueClientAddress()));
    expect(isServiceError(error) && error.message).toContain("set together");
  });

  it("reports a malformed PEM without echoing any of it", async () => {
    const secret = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----";
    const error = await rejection(
      billing({ PRIVATE_KEY_PEM: secret, KID: "broken" }).issueGuestToken({}, call, uniqueClientAddress()),
    );
    expect(isServiceError(error) && error.code).toBe("not_configured");
    expect(
      JSON.stringify({ message: (error as Error).message, details: (error as { details?: unknown }).details }),
    ).not.toContain("TOP-SECRET");
  });

  it("generates a development key once, stores it, logs that it did, and reuses it", async () => {
    const log = vi.spyOn(console, "log");
    const dev = { PRIVATE_KEY_PEM: "", KID: "", ENVIRONMENT: "development" };
    const first = await billing(dev).issueGuestToken({}, call, uniqueClientAddress());
    const kid = decodeProtectedHeader(first.token).kid!;
    expect(kid).toMatch(/^dev-/);
    expect(log.mock.calls.flat().join("\n")).toContain("generated a development signing key");

    const stored = await env.KEYS.get<{ kid: string }>("dev_signing_key", "json");
    expect(stored?.kid).toBe(kid);
    const second = await billing(dev).issueGuestToken({}, call, uniqueClientAddress());
    expect(decodeProtectedHeader(second.token).kid).toBe(kid);

    const { jwks } = await billing(dev).jwks(call);
    const published = jwks.keys.find((k) => k.kid === kid);
    expect(published).toBeDefined();
    expect(JSON.stringify(jwks)).not.toMatch(/"d"|"p"|"q"|"dp"|"dq"|"qi"/);
    log.mockRestore();
  });
});

describe("internal surface", () => {
  it("answers 404 to HTTP: internal workers have no routes", async () => {
    const worker = (await import("../src/index")).default;
    const response = await worker.fetch();
    expect(response.status).toBe(404);
  });

  it("answers its health check", async () => {
    await expect(billing().health()).resolves.toEqual({ service: "billing", ok: true });
  });
});

describe("the global ceiling on starter grants", () => {
  it("refuses a guest token over GUEST_GRANTS_PER_MINUTE with 429, before any account or credits exist", async () => {
    const ceiling = 3;
    let refusal: unknown;
    let guestLedgersTouched: string[] = [];
    // Each attempt comes from an address of its own, so only the global ceiling can refuse. Other
    // tests count against it this minute too; a minute boundary resets it at most once in the loop.
    for (let i = 0; i < 2 * ceiling + 1 && refusal === undefined; i++) {
      const named: string[] = [];
      const ledgers = new Proxy(env.ACCOUNT_LEDGER, {
        get(target, property) {
          if (property === "idFromName")
            return (name: string) => {
              named.push(name);
              return target.idFromName(name);
            };
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const service = billing({ GUEST_GRANTS_PER_MINUTE: String(ceiling), ACCOUNT_LEDGER: ledgers });
      try {
        await service.issueGuestToken({}, call, uniqueClientAddress());
      } catch (error) {
        refusal = error;
        guestLedgersTouched = named.filter((name) => name.startsWith("guest:"));
      }
    }
    expect(isServiceError(refusal) && refusal.code).toBe("rate_limited");
    expect((refusal as { details: { retry_after: number } }).details.retry_after).toBeGreaterThan(0);
    expect((refusal as { details: Record<string, unknown> }).details.limits).toBeUndefined();
    expect(guestLedgersTouched).toEqual([]);
  });

  it("refuses an invalid GUEST_GRANTS_PER_MINUTE as not_configured", async () => {
    const error = await rejection(
      billing({ GUEST_GRANTS_PER_MINUTE: "0" }).issueGuestToken({}, call, uniqueClientAddress()),
    );
    expect(isServiceError(error) && error.code).toBe("not_configured");
  });
});
