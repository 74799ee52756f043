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

describe("nested IPv6 prefix limits", () => {
  // One subscriber is delegated a whole /56 or /48, so the /64 limit alone would let one home mint
  // GUEST_TOKENS_PER_MINUTE for each of 256 (or 65,536) /64s and use up the global ceiling. These
  // tests freeze the clock so one minute's window holds every attempt, and give the ceiling a ledger
  // object of their own, set one above what the limits should grant, so other tests' grants this minute
  // cannot move it: it refuses the unrelated client only if the attacker took more than its share.
  const perAddress = 3;

  /** 3fff::/20 (RFC 9637, documentation) is used by no other test: these buckets start empty. */
  function randomPrefix48(): string {
    const [a, b] = crypto.getRandomValues(new Uint16Array(2));
    return `3fff:${((a as number) & 0xfff).toString(16)}:${(b as number).toString(16)}`;
  }

  function withOwnCeiling(ceiling: number): BillingService {
    // The service remembers object ids by name, so the object is swapped where it is reached.
    const shared = env.ACCOUNT_LEDGER.idFromName("limit:guest-grants");
    const own = env.ACCOUNT_LEDGER.idFromName(`limit:guest-grants:test-${crypto.randomUUID()}`);
    const ledgers = new Proxy(env.ACCOUNT_LEDGER, {
      get(target, property) {
        if (property === "get") return (id: DurableObjectId) => target.get(id.equals(shared) ? own : id);
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return billing({
      GUEST_TOKENS_PER_MINUTE: String(perAddress),
      GUEST_GRANTS_PER_MINUTE: String(ceiling),
      ACCOUNT_LEDGER: ledgers,
    });
  }

  /** Tokens granted to `addresses`, each tried `perAddress + 1` times; every refusal is rate_limited. */
  async function granted(service: BillingService, addresses: string[]): Promise<number> {
    let count = 0;
    for (const address of addresses)
      for (let i = 0; i <= perAddress; i++) {
        try {
          await service.issueGuestToken({}, call, address);
          count++;
        } catch (error) {
          expect(isServiceError(error) && error.code).toBe("rate_limited");
          expect((error as { details: Record<string, unknown> }).details.limits).toBeUndefined();
        }
      }
    return count;
  }

  async function inOneMinute(test: () => Promise<void>): Promise<void> {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      await test();
    } finally {
      vi.useRealTimers();
    }
  }

  it("gives the /64s of one /56 at most twice GUEST_TOKENS_PER_MINUTE, and its refusals cost its /48 nothing", async () => {
    await inOneMinute(async () => {
      const prefix = randomPrefix48();
      const service = withOwnCeiling(4 * perAddress + 1);
      // Eight /64s of 3fff:…:1200::/56.
      const slash64s = Array.from({ length: 8 }, (_, i) => `${prefix}:12${i.toString(16).padStart(2, "0")}::${i + 1}`);
      expect(await granted(service, slash64s)).toBe(2 * perAddress);
      // Another /56 of the same /48 still gets its full share: the refused attempts above were not
      // counted against the /48 or the ceiling.
      expect(await granted(service, [`${prefix}:3400::1`, `${prefix}:3401::1`, `${prefix}:3402::1`])).toBe(
        2 * perAddress,
      );
      // The ceiling has one grant left, and an unrelated client gets it.
      await expect(service.issueGuestToken({}, call, uniqueClientAddress())).resolves.toMatchObject({
        token_type: "Bearer",
      });
    });
  });

  it("gives the /56s of one /48 at most four times GUEST_TOKENS_PER_MINUTE, and leaves the ceiling to others", async () => {
    await inOneMinute(async () => {
      const prefix = randomPrefix48();
      const service = withOwnCeiling(4 * perAddress + 1);
      // One /64 in each of eight /56s of one /48: only the /48's limit binds.
      const slash56s = Array.from({ length: 8 }, (_, i) => `${prefix}:${(i + 1).toString(16)}00::1`);
      expect(await granted(service, slash56s)).toBe(4 * perAddress);
      await expect(service.issueGuestToken({}, call, uniqueClientAddress())).resolves.toMatchObject({
        token_type: "Bearer",
      });
    });
  });
});
