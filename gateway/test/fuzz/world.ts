// The tenants the fuzzer works with, built through the real gateway before it starts: a fuzzed
// tenant (whose token most requests carry, with room to make thousands of them) and a victim that
// owns one of every resource. The victim's ids are among the values the fuzzer draws, so a route
// that let one tenant reach another's job, upload, document or scaffold would show in the victim's
// state, which is read before and after and must not change.

import { exportPKCS8, generateKeyPair } from "jose";
import { expect } from "vitest";
import { FAKE_APP_GRAPH } from "../../../test-support/fake-provider";
import { ADMIN_KEY, ADMIN_KEY_PREVIOUS, as, gateway, guestToken, signToken, validClaims } from "../helpers";
import type { FuzzWorld } from "./requests";

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
/** A flag the fuzzer may change (its key is among the drawn ones). */
export const FUZZ_FLAG = "fuzz.playground";
/** A flag only the victim has an override of; its key is never drawn. */
const VICTIM_FLAG = "fuzz.victim-only";

function base64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function ok(response: Response, status = [200, 201]): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(status, text).toContain(response.status);
  return JSON.parse(text) as Record<string, unknown>;
}

/** One of every resource a tenant can own, through the gateway; their ids. */
async function seed(
  token: string,
  tag: string,
): Promise<{ job: string; upload: string; doc: string; scaffold: string }> {
  await ok(
    await as(token, "/api/billing/usage", {
      method: "POST",
      body: JSON.stringify({ tokens_in: 1, tokens_out: 1, provider: "groq", model: "m" }),
    }),
  );
  const job = await ok(
    await as(token, "/api/jobs", {
      method: "POST",
      // Not due for an hour, so an admin's "run the due jobs now" leaves it pending.
      body: JSON.stringify({
        kind: "si.ask",
        input: { prompt: tag },
        run_at: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    }),
  );
  const upload = await ok(
    await as(token, "/api/upload/direct", {
      method: "POST",
      headers: { "Content-Type": "text/plain", "X-File-Name": `${tag}.txt` },
      body: `${tag} upload`,
    }),
  );
  await ok(
    await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: `${tag}-doc`, text: `${tag} text` }),
    }),
  );
  const scaffold = await ok(
    await as(token, "/api/scaffold/render", { method: "POST", body: JSON.stringify({ graph: FAKE_APP_GRAPH }) }),
  );
  return { job: String(job.id), upload: String(upload.key), doc: `${tag}-doc`, scaffold: String(scaffold.id) };
}

async function defineFlag(key: string): Promise<string> {
  const response = await gateway(`/api/admin/flags/${key}`, {
    method: "PUT",
    headers: admin,
    body: JSON.stringify({ type: "boolean", variants: { on: true, off: false }, default_variant: "off" }),
  });
  await ok(response);
  return response.headers.get("ETag") ?? '"0"';
}

/** What the victim can see of its own state, and its flag override as an admin sees it. */
export async function victimState(token: string): Promise<Record<string, unknown>> {
  const read = async (path: string) => (await as(token, path)).json();
  const flag = (await (await gateway(`/api/admin/flags/${VICTIM_FLAG}`, { headers: admin })).json()) as {
    overrides?: Record<string, unknown>;
  };
  return {
    credits: await read("/api/credits"),
    history: await read("/api/credits/history"),
    usage: await read("/api/billing/usage"),
    jobs: await read("/api/jobs"),
    uploads: await read("/api/uploads"),
    docs: await read("/api/rag/docs"),
    scaffolds: await read("/api/scaffold"),
    // Only the victim's own flag: an admin's fuzzed changes to other flags show in every tenant's list.
    flag: ((await read("/api/flags")) as { values?: Record<string, unknown> }).values?.[VICTIM_FLAG] ?? null,
    overrides: flag.overrides ?? null,
  };
}

/** Builds the fuzzed tenant, the victim, their resources and the credentials to draw from. */
export async function buildWorld(): Promise<{ world: FuzzWorld; victim: { token: string; sub: string } }> {
  const [self, victim] = [await guestToken(), await guestToken()];
  // Thousands of requests a minute from one tenant: its own limits, and credits to spend on asks.
  await ok(
    await gateway(`/api/admin/limits/${encodeURIComponent(self.sub)}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ rpm: 1_000_000, daily_credits: 1_000 }),
    }),
  );
  await ok(
    await gateway("/api/credits/adjust", {
      method: "POST",
      headers: { ...admin, "Idempotency-Key": `fuzz-credit-${self.sub}` },
      body: JSON.stringify({ account: self.sub, delta: 20, reason: "fuzz budget" }),
    }),
  );
  const own = await seed(self.token, "self");
  const theirs = await seed(victim.token, "victim");
  const etag = await defineFlag(FUZZ_FLAG);
  await defineFlag(VICTIM_FLAG);
  await ok(
    await gateway(`/api/admin/flags/${VICTIM_FLAG}/overrides/${encodeURIComponent(victim.sub)}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ variant: "on" }),
    }),
  );
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const foreignPem = await exportPKCS8(privateKey);
  const now = Math.floor(Date.now() / 1000);
  const badTokens = [
    await signToken(validClaims({ sub: victim.sub }), { privateKeyPem: foreignPem }),
    await signToken(validClaims({ sub: victim.sub, iss: "https://evil.example" })),
    await signToken(validClaims({ sub: self.sub, aud: "someone-else" })),
    await signToken(validClaims({ sub: self.sub, iat: now - 7_200, exp: now - 3_600 })),
    await signToken(validClaims({ sub: victim.sub }), { kid: "no-such-kid" }),
    `${base64url('{"alg":"none","typ":"JWT"}')}.${base64url(JSON.stringify(validClaims({ sub: victim.sub })))}.`,
    `${self.token.slice(0, -4)}AAAA`,
  ];
  return {
    victim,
    world: {
      token: self.token,
      account: self.sub,
      badTokens,
      adminKeys: {
        valid: [ADMIN_KEY, ADMIN_KEY_PREVIOUS],
        invalid: ["", "test-admin-key", `${ADMIN_KEY}x`, ADMIN_KEY.toUpperCase(), "x".repeat(4_096)],
      },
      pathValues: {
        id: [own.job, own.doc, own.scaffold, theirs.job, theirs.doc, theirs.scaffold].map(encodeURIComponent),
        key: [own.upload, theirs.upload, FUZZ_FLAG, "no.such-flag"].map(encodeURIComponent),
        kid: ["no-such-kid", "gateway-test-2"],
        account: ["guest:fuzz-other", "tenant-a"].map(encodeURIComponent),
      },
      bodyValues: {
        upload_key: [own.upload, theirs.upload],
        account: [self.sub, "guest:nobody"],
        id: [own.doc, theirs.doc, own.job],
        graph: [FAKE_APP_GRAPH, { ...FAKE_APP_GRAPH, entities: [] }],
      },
      etags: [etag],
    },
  };
}
