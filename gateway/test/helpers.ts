import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { importPKCS8, type JWTPayload, SignJWT } from "jose";
import OpenAI from "openai";
import { expect } from "vitest";
import { uniqueClientAddress } from "../../test-support/client-address";
import worker from "../src/index";
import { checkAgainstDocument } from "./contract";

export const BASE = "https://api.cognomega.com";
export const ADMIN_KEY = "test-admin-key-current";
export const ADMIN_KEY_PREVIOUS = "test-admin-key-previous";
export const ALLOWED_ORIGIN = "https://app.example.com";

/**
 * A request through the real gateway, with the real billing worker behind it. Every answer is
 * checked against the OpenAPI document (./contract.ts) before the test sees it.
 */
export function gateway(path: string, init?: RequestInit): Promise<Response> {
  return gatewayFetch(new Request(`${BASE}${path}`, init));
}

/** {@link gateway} for a whole request (a client's `fetch`): the real gateway, checked against the document. */
export async function gatewayFetch(request: Request): Promise<Response> {
  const main = (exports as unknown as { default: Fetcher }).default;
  const response = await main.fetch(request.clone());
  await checkAgainstDocument(request, response);
  return response;
}

/**
 * The gateway's handler with some bindings replaced: for settings (TRUST_EMAIL_IDENTITY, a missing
 * ADMIN_KEY) and for an internal service failing in ways the real one cannot be made to.
 */
export async function gatewayWith(overrides: Partial<GatewayEnv>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${path}`, init) as Request<unknown, IncomingRequestCfProperties>;
  const response = await worker.fetch(request.clone() as typeof request, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  await checkAgainstDocument(request, response);
  return response;
}

/** The RFC 9457 body of a problem answer, after checking its media type and status. */
export async function expectProblem(
  response: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect({ status: response.status, code: body.code }).toEqual({ status, code });
  expect(body.status).toBe(status);
  expect(body.type).toBe(`https://api.cognomega.com/problems/${code}`);
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  expect(body.request_id).toBe(response.headers.get("X-Request-Id"));
  return body;
}

/**
 * A guest token issued by the real billing worker through `POST /auth/guest`, from an address of
 * its own (issuance is limited per client address, and requests without one share a bucket).
 */
export async function guestToken(email?: string): Promise<{ token: string; sub: string }> {
  const response = await gateway("/auth/guest", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": uniqueClientAddress() },
    body: JSON.stringify(email ? { email } : {}),
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** Signs a token outside the service with the configured test key; every part is overridable. */
export async function signToken(
  claims: JWTPayload,
  options: { kid?: string | null; header?: Record<string, unknown>; privateKeyPem?: string } = {},
): Promise<string> {
  const key = await importPKCS8(options.privateKeyPem ?? env.TEST_PRIVATE_KEY_PEM, "RS256");
  const header: Record<string, unknown> = { alg: "RS256", typ: "JWT", ...options.header };
  if (options.kid !== null) header.kid = options.kid ?? env.TEST_KID;
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

/** Standard valid claims for a token from this deployment. */
export function validClaims(overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: "https://api.cognomega.com",
    aud: "cognomega",
    sub: "guest:external",
    iat: now,
    exp: now + 600,
    ...overrides,
  };
}

/** A request through the gateway as the token's user: JSON unless `init` says otherwise. */
export function as(token: string, path: string, init: RequestInit = {}): Promise<Response> {
  return gateway(path, {
    ...init,
    headers: {
      "Content-Type": "application/json",
      ...(init.headers as Record<string, string>),
      Authorization: `Bearer ${token}`,
    },
  });
}

/** GET /api/me with a bearer token. */
export function me(token: string, init: RequestInit = {}): Promise<Response> {
  return as(token, "/api/me", init);
}

/** The official `openai` client, pointed at the real gateway with a caller's token. */
export function openaiClient(token: string): OpenAI {
  return new OpenAI({
    apiKey: token,
    baseURL: `${BASE}/v1`,
    maxRetries: 0,
    fetch: (url: string | URL | Request, init?: RequestInit) => gateway(String(url).slice(BASE.length), init),
  });
}
