import { describe, expect, it } from "vitest";
import { env } from "../../test-support/mesh-env";
import { ADMIN_KEY, as, expectProblem, gateway, gatewayWith, guestToken, signToken, validClaims } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };

function uniqueKey(prefix = "gw"): string {
  return `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
}

/** A boolean flag: on for cognomega.com, for accounts younger than a day, and for `plan: beta`. */
function targeted(extra: Record<string, unknown> = {}) {
  return {
    type: "boolean",
    variants: { on: true, off: false },
    default_variant: "off",
    rules: [
      { when: [{ attribute: "email_domain", op: "eq", value: "cognomega.com" }], variant: "on" },
      { when: [{ attribute: "account_age_days", op: "gte", value: 5 }], variant: "on" },
      { when: [{ attribute: "country", op: "eq", value: "DE" }], variant: "on" },
      { when: [{ attribute: "plan", op: "eq", value: "beta" }], variant: "on" },
    ],
    ...extra,
  };
}

async function define(
  key: string,
  body: unknown = targeted(),
): Promise<{ etag: string; body: Record<string, unknown> }> {
  const response = await gateway(`/api/admin/flags/${key}`, {
    method: "PUT",
    headers: admin,
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return { etag: response.headers.get("ETag") as string, body: await response.json() };
}

function evaluate(token: string | null, key: string, context?: unknown, headers: Record<string, string> = {}) {
  const init = {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(context === undefined ? {} : { context }),
  };
  return token === null
    ? gateway(`/ofrep/v1/evaluate/flags/${key}`, init)
    : as(token, `/ofrep/v1/evaluate/flags/${key}`, init);
}

describe("admin flag routes", () => {
  it("create with 201 and an ETag, change only with If-Match (428, 412 as problem+json), delete with it", async () => {
    const key = uniqueKey();
    const created = await define(key);
    expect(created.etag).toMatch(/^"\d+"$/);
    const read = await gateway(`/api/admin/flags/${key}`, { headers: admin });
    expect(read.headers.get("ETag")).toBe(created.etag);
    expect(((await read.json()) as { flag: { key: string } }).flag.key).toBe(key);

    const change = (ifMatch?: string) =>
      gateway(`/api/admin/flags/${key}`, {
        method: "PUT",
        headers: { ...admin, ...(ifMatch ? { "If-Match": ifMatch } : {}) },
        body: JSON.stringify(targeted({ default_variant: "on" })),
      });
    await expectProblem(await change(), 428, "precondition_required");
    const changed = await change(created.etag);
    expect(changed.status).toBe(200);
    const etag = changed.headers.get("ETag") as string;
    expect(etag).not.toBe(created.etag);
    await expectProblem(await change(created.etag), 412, "precondition_failed");

    const listed = await gateway("/api/admin/flags", { headers: admin });
    const list = (await listed.json()) as { flags: { flag: { key: string } }[] };
    expect(list.flags.map((entry) => entry.flag.key)).toContain(key);

    await expectProblem(
      await gateway(`/api/admin/flags/${key}`, { method: "DELETE", headers: admin }),
      428,
      "precondition_required",
    );
    const removed = await gateway(`/api/admin/flags/${key}`, {
      method: "DELETE",
      headers: { ...admin, "If-Match": etag },
    });
    expect(removed.status).toBe(200);
    await expectProblem(await gateway(`/api/admin/flags/${key}`, { headers: admin }), 404, "not_found");

    const history = await gateway(`/api/admin/flags/${key}/history`, { headers: admin });
    const entries = ((await history.json()) as { entries: { action: string; by: string; request_id: string }[] })
      .entries;
    expect(entries.map((entry) => entry.action)).toEqual(["delete", "put", "put"]);
    expect(entries[0]?.by).toBe("admin");
    expect(entries[0]?.request_id).toBe(removed.headers.get("X-Request-Id"));
  });

  it("answer validation failures as 400 invalid_input with paths", async () => {
    const key = uniqueKey();
    const bad = await gateway(`/api/admin/flags/${key}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ ...targeted(), rules: [{ rollout: [{ variant: "on", weight: 70 }] }] }),
    });
    const problem = await expectProblem(bad, 400, "invalid_input");
    expect(problem.issues).toEqual([{ path: "rules.0.rollout", message: "weights must sum to 100, not 70" }]);
    await expectProblem(
      await gateway("/api/admin/flags/bad%20key", { method: "PUT", headers: admin, body: JSON.stringify(targeted()) }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await gateway(`/api/admin/flags/${key}`, { method: "PUT", headers: admin, body: "{" }),
      400,
      "malformed_json",
    );
  });

  it("are admin only: 401 without a key, 403 with a wrong one, also for a signed-in user", async () => {
    const { token } = await guestToken();
    const key = uniqueKey();
    const routes: [string, string][] = [
      ["GET", "/api/admin/flags"],
      ["GET", `/api/admin/flags/${key}`],
      ["PUT", `/api/admin/flags/${key}`],
      ["DELETE", `/api/admin/flags/${key}`],
      ["PUT", `/api/admin/flags/${key}/overrides/guest:x`],
      ["DELETE", `/api/admin/flags/${key}/overrides/guest:x`],
      ["GET", `/api/admin/flags/${key}/history`],
    ];
    for (const [method, path] of routes) {
      const body = method === "PUT" ? JSON.stringify(targeted()) : undefined;
      await expectProblem(await as(token, path, { method, body }), 401, "unauthenticated");
      await expectProblem(
        await as(token, path, { method, body, headers: { "X-Admin-Key": "wrong" } }),
        403,
        "forbidden",
      );
    }
    await expectProblem(await gateway(`/api/admin/flags/${key}`, { headers: admin }), 404, "not_found");
  });
});

describe("OFREP evaluation", () => {
  it("answers OFREP's success shape, 404 FLAG_NOT_FOUND, and 401 without a token (not problem+json)", async () => {
    const key = uniqueKey();
    await define(key);
    const { token } = await guestToken();
    const answer = await evaluate(token, key);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({
      key,
      value: false,
      variant: "off",
      reason: "DEFAULT",
      metadata: { version: expect.any(String) },
    });
    const missing = await evaluate(token, uniqueKey());
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });

    const anonymous = await evaluate(null, key);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("Content-Type")).toContain("application/json");
    expect(await anonymous.json()).toMatchObject({ code: "unauthenticated", errorDetails: expect.any(String) });
    const forged = await evaluate("not-a-token", key);
    expect(forged.status).toBe(401);
  });

  it("answers OFREP's request-failure body, not problem+json, for paths and methods under /ofrep/ it has no route for", async () => {
    // Found by the contract fuzzer: a key of `..` normalises to /ofrep/v1/evaluate/.
    const { token } = await guestToken();
    const unrouted = await gateway("/ofrep/v1/evaluate/flags/..", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: "{}",
    });
    expect(unrouted.status).toBe(404);
    expect(unrouted.headers.get("Content-Type")).toContain("application/json");
    expect(await unrouted.json()).toMatchObject({ code: "not_found", errorDetails: expect.any(String) });
    const wrongMethod = await gateway("/ofrep/v1/evaluate/flags", { headers: { Authorization: `Bearer ${token}` } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("Allow")).toContain("POST");
    expect(await wrongMethod.json()).toMatchObject({ code: "method_not_allowed", errorDetails: expect.any(String) });
  });

  it("answers PARSE_ERROR for a body that is not a JSON object and INVALID_CONTEXT for a bad context", async () => {
    const key = uniqueKey();
    await define(key);
    const { token } = await guestToken();
    const send = (body: string) => as(token, `/ofrep/v1/evaluate/flags/${key}`, { method: "POST", body });
    const malformed = await send("{");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ key, errorCode: "PARSE_ERROR" });
    expect(await (await send("[1]")).json()).toMatchObject({ key, errorCode: "PARSE_ERROR" });
    const invalid = await send(JSON.stringify({ context: { targetingKey: 5 } }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ key, errorCode: "INVALID_CONTEXT" });
    const tooLarge = await send(JSON.stringify({ context: { blob: "x".repeat(5000) } }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ code: "payload_too_large" });
  });

  it("uses the attributes the gateway derives over the client's, and honours the client's own ones", async () => {
    const key = uniqueKey();
    await define(key);
    const { token } = await guestToken("someone@example.com");
    // A client cannot claim another domain, another age or another country…
    const claimed = await evaluate(token, key, { email_domain: "cognomega.com", account_age_days: 400 });
    expect(await claimed.json()).toMatchObject({ variant: "off", reason: "DEFAULT" });
    // …but the gateway's own facts apply: an employee's token, an old account, a German request.
    const employee = await guestToken("dev@cognomega.com");
    expect(await (await evaluate(employee.token, key)).json()).toMatchObject({
      variant: "on",
      reason: "TARGETING_MATCH",
    });
    const old = await signToken(
      validClaims({ sub: `guest:${crypto.randomUUID()}`, iat: Math.floor(Date.now() / 1000) - 6 * 86_400 }),
    );
    expect(await (await evaluate(old, key)).json()).toMatchObject({ variant: "on" });
    const german = await gateway(`/ofrep/v1/evaluate/flags/${key}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: "{}",
      cf: { country: "DE" },
    } as RequestInit);
    expect(await german.json()).toMatchObject({ variant: "on" });
    // An attribute the gateway does not derive is the client's to send.
    expect(await (await evaluate(token, key, { plan: "beta" })).json()).toMatchObject({ variant: "on" });
  });

  it("never evaluates as another account, unless the caller is an admin", async () => {
    const key = uniqueKey();
    await define(key);
    const victim = await guestToken();
    const override = await gateway(`/api/admin/flags/${key}/overrides/${victim.sub}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ variant: "on" }),
    });
    expect(override.status).toBe(200);
    expect(await (await evaluate(victim.token, key)).json()).toMatchObject({
      variant: "on",
      reason: "TARGETING_MATCH",
    });

    const attacker = await guestToken();
    const claimed = await evaluate(attacker.token, key, { targetingKey: victim.sub });
    expect(await claimed.json()).toMatchObject({ variant: "off", reason: "DEFAULT" });
    // An admin key, alone or beside a Bearer token, may evaluate any account and attributes.
    const asAdmin = await evaluate(null, key, { targetingKey: victim.sub }, { "X-Admin-Key": ADMIN_KEY });
    expect(await asAdmin.json()).toMatchObject({ variant: "on", reason: "TARGETING_MATCH" });
    const both = await evaluate(attacker.token, key, { targetingKey: victim.sub }, { "X-Admin-Key": ADMIN_KEY });
    expect(await both.json()).toMatchObject({ variant: "on" });
    const domain = await evaluate(null, key, { email_domain: "cognomega.com" }, { "X-Admin-Key": ADMIN_KEY });
    expect(await domain.json()).toMatchObject({ variant: "on", reason: "TARGETING_MATCH" });

    // Dropping the override puts the victim back on the default.
    const dropped = await gateway(`/api/admin/flags/${key}/overrides/${victim.sub}`, {
      method: "DELETE",
      headers: admin,
    });
    expect(dropped.status).toBe(200);
    expect(((await dropped.json()) as { overrides: Record<string, string> }).overrides).toEqual({});
    expect(await (await evaluate(victim.token, key)).json()).toMatchObject({ variant: "off", reason: "DEFAULT" });
  });

  it("answers the bulk evaluation with an ETag, 304 for If-None-Match, and a new ETag after a change", async () => {
    const key = uniqueKey();
    const { etag: flagEtag } = await define(key);
    const { token } = await guestToken();
    const bulk = (headers: Record<string, string> = {}, context: unknown = {}) =>
      as(token, "/ofrep/v1/evaluate/flags", { method: "POST", headers, body: JSON.stringify({ context }) });
    const first = await bulk();
    expect(first.status).toBe(200);
    const etag = first.headers.get("ETag") as string;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const body = (await first.json()) as { flags: { key: string }[] };
    expect(body.flags.map((flag) => flag.key)).toEqual(expect.arrayContaining([key, "voice.enabled", "si.models"]));

    const unchanged = await bulk({ "If-None-Match": etag });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get("ETag")).toBe(etag);
    expect(await unchanged.text()).toBe("");
    // Another context is another answer, with its own bytes (answers are remembered per context).
    const valueIn = async (response: Response) =>
      ((await response.json()) as { flags: { key: string; value: unknown }[] }).flags.find((flag) => flag.key === key)
        ?.value;
    const beta = await bulk({ "If-None-Match": etag }, { plan: "beta" });
    expect(beta.status).toBe(200);
    expect(await valueIn(beta)).toBe(true);
    expect(await valueIn(await bulk())).toBe(false);
    expect(await valueIn(await bulk({}, { plan: "beta" }))).toBe(true);

    const changed = await gateway(`/api/admin/flags/${key}`, {
      method: "PUT",
      headers: { ...admin, "If-Match": flagEtag },
      body: JSON.stringify(targeted({ default_variant: "on" })),
    });
    expect(changed.status).toBe(200);
    const after = await bulk({ "If-None-Match": etag });
    expect(after.status).toBe(200);
    expect(after.headers.get("ETag")).not.toBe(etag);
    // The remembered answer of the old version is not served for the new one.
    expect(await valueIn(after)).toBe(true);
  });

  it("GET /api/flags answers the caller's values", async () => {
    const key = uniqueKey();
    await define(key);
    const { token } = await guestToken();
    const response = await as(token, "/api/flags");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { values: Record<string, unknown> };
    expect(body.values[key]).toBe(false);
    expect(body.values["voice.enabled"]).toBe(true);
    expect(body.values["si.models"]).toEqual({ models: ["*"] });
    await expectProblem(await gateway("/api/flags"), 401, "unauthenticated");
  });

  it("evaluates from a warm flag set with no RPC (the TTL itself is tested on FlagSetCache)", async () => {
    let snapshots = 0;
    // Only snapshot is reached while evaluating; a plain object, since a Proxy over an RPC stub
    // answers every property (then included) with a remote call.
    const flags = {
      snapshot: (...args: Parameters<GatewayEnv["FLAGS"]["snapshot"]>) => {
        snapshots += 1;
        return env.FLAGS.snapshot(...args);
      },
    } as unknown as GatewayEnv["FLAGS"];
    const key = uniqueKey();
    await define(key);
    const warm = { FLAGS: flags, FLAGS_CACHE_TTL_SECONDS: "3600" };
    const evaluateWarm = () =>
      gatewayWith(warm, `/ofrep/v1/evaluate/flags/${key}`, {
        method: "POST",
        // An admin, whose requests hold no request slots (whose idle watch would keep the
        // execution context open past the test's timeout).
        headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" },
        body: "{}",
      });
    for (let i = 0; i < 4; i++) expect((await evaluateWarm()).status).toBe(200);
    expect(snapshots).toBe(1);
  });
});
