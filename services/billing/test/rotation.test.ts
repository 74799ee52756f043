import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { isServiceError } from "@cognomega/shared";
import { exportSPKI, generateKeyPair } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { BillingService } from "../src/index";

const call = { requestId: "test-request-0002" };
const admin: Identity = { sub: "admin", source: "admin", admin: true };
const user: Identity = { sub: "guest:someone", source: "jwt", admin: false };

function billing(): BillingService {
  return new BillingService(createExecutionContext(), env);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function newPublicPem(): Promise<string> {
  const pair = await generateKeyPair("RS256", { extractable: true });
  return exportSPKI(pair.publicKey);
}

describe("key rotation", () => {
  // Kids are unique per test: the file's tests share one KV namespace.
  beforeEach(async () => {
    await billing().jwks(call);
  });

  it("is admin-only", async () => {
    const error = await rejection(
      billing().publishKey({ kid: "next", public_key_pem: await newPublicPem() }, user, call),
    );
    expect(isServiceError(error) && error.code).toBe("forbidden");
    expect(isServiceError(await rejection(billing().listKeys(user, call)))).toBe(true);
    expect(isServiceError(await rejection(billing().retireKey("x", true, user, call)))).toBe(true);
  });

  it("publishes a next key beside the signing key, idempotently", async () => {
    const pem = await newPublicPem();
    const first = await billing().publishKey({ kid: "next-1", public_key_pem: pem }, admin, call);
    const again = await billing().publishKey({ kid: "next-1", public_key_pem: pem }, admin, call);
    expect(again).toEqual(first);
    const keys = await billing().listKeys(admin, call);
    expect(keys.find((k) => k.kid === "billing-test-1")).toMatchObject({ signing: true });
    expect(keys.find((k) => k.kid === "next-1")).toMatchObject({ signing: false });
    expect(keys.find((k) => k.kid === "billing-test-1")?.signing_since).toBeDefined();
  });

  it("refuses the same kid with another key, and a malformed key", async () => {
    await billing().publishKey({ kid: "next-2", public_key_pem: await newPublicPem() }, admin, call);
    const clash = await rejection(
      billing().publishKey({ kid: "next-2", public_key_pem: await newPublicPem() }, admin, call),
    );
    expect(isServiceError(clash) && clash.code).toBe("conflict");
    const junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
    const bad = await rejection(billing().publishKey({ kid: "junk", public_key_pem: junk }, admin, call));
    expect(isServiceError(bad) && bad.code).toBe("invalid_input");
    const badKid = await rejection(billing().publishKey({ kid: "../x", public_key_pem: junk }, admin, call));
    expect(isServiceError(badKid) && badKid.code).toBe("invalid_input");
  });

  it("never retires the signing key", async () => {
    const error = await rejection(billing().retireKey("billing-test-1", true, admin, call));
    expect(isServiceError(error) && error.code).toBe("conflict");
  });

  it("retires a published key that never signed at once", async () => {
    await billing().publishKey({ kid: "unused", public_key_pem: await newPublicPem() }, admin, call);
    await expect(billing().retireKey("unused", false, admin, call)).resolves.toEqual({ retired: "unused" });
  });

  it("keeps a key that signed through the overlap window unless forced", async () => {
    await billing().publishKey({ kid: "old", public_key_pem: await newPublicPem() }, admin, call);
    // "old" signed tokens before the current key took over.
    const signed = (await env.KEYS.get<Record<string, { published_at: string; signing_since?: string }>>(
      "jwks_meta",
      "json",
    ))!;
    signed.old!.signing_since = new Date(Date.now() - 86_400_000).toISOString();
    await env.KEYS.put("jwks_meta", JSON.stringify(signed));
    const early = await rejection(billing().retireKey("old", false, admin, call));
    expect(isServiceError(early) && early.code).toBe("conflict");
    expect((early as { details: { retry_after: number } }).details.retry_after).toBeGreaterThan(3600);

    // The signing key has been signing for longer than TTL + JWKS max-age: the old one may go.
    const meta = (await env.KEYS.get<Record<string, { published_at: string; signing_since?: string }>>(
      "jwks_meta",
      "json",
    ))!;
    meta["billing-test-1"]!.signing_since = new Date(Date.now() - (3600 + 300 + 1) * 1000).toISOString();
    await env.KEYS.put("jwks_meta", JSON.stringify(meta));
    await expect(billing().retireKey("old", false, admin, call)).resolves.toEqual({ retired: "old" });
    const { jwks } = await billing().jwks(call);
    expect(jwks.keys.some((k) => k.kid === "old")).toBe(false);
    expect(jwks.keys.some((k) => k.kid === "billing-test-1")).toBe(true);
  });

  it("force-retires a compromised key at once, and 404s an unknown kid", async () => {
    await billing().publishKey({ kid: "leaked", public_key_pem: await newPublicPem() }, admin, call);
    await billing().retireKey("leaked", true, admin, call);
    const { jwks } = await billing().jwks(call);
    expect(jwks.keys.some((k) => k.kid === "leaked")).toBe(false);
    const missing = await rejection(billing().retireKey("leaked", true, admin, call));
    expect(isServiceError(missing) && missing.code).toBe("not_found");
  });
});
