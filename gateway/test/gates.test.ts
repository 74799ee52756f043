import { emailAccount, type FlagRolloutShare, type FlagSet, fractionalVariant, GATE_FLAGS } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { FAKE_APP_GRAPH } from "../../test-support/fake-provider";
import { ADMIN_KEY, as, expectProblem, gateway, gatewayWith, guestToken, signToken, validClaims } from "./helpers";

// The mesh's own features obey the gate flags, through the real gateway → RPC → services, with the
// flags worker behind both. Other test files share the flag registry: every change here is an
// override for an account of this file, or a rule that matches only this file's accounts.

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };

/** `PUT /api/admin/flags/:key/overrides/:account`: needs no precondition. */
async function override(key: string, account: string, variant: string): Promise<void> {
  const response = await gateway(`/api/admin/flags/${key}/overrides/${encodeURIComponent(account)}`, {
    method: "PUT",
    headers: admin,
    body: JSON.stringify({ variant }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
}

/**
 * Defines (or redefines) a flag: with the ETag it has now, retried when another file's write got
 * in between (412), so this file never overwrites a change it has not seen.
 */
async function define(key: string, definition: Record<string, unknown>): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await gateway(`/api/admin/flags/${key}`, { headers: admin });
    const etag = current.status === 200 ? current.headers.get("ETag") : null;
    const response = await gateway(`/api/admin/flags/${key}`, {
      method: "PUT",
      headers: etag ? { ...admin, "If-Match": etag } : admin,
      body: JSON.stringify(definition),
    });
    if (response.status === 412) continue;
    expect([200, 201], await response.clone().text()).toContain(response.status);
    return;
  }
  throw new Error(`could not define ${key}: it kept changing`);
}

/**
 * A token for an account of this file's own (signed with the test key; no credits needed). The
 * names are fixed, so the rollouts' shares (and so the bounds asserted on them) are the same on
 * every run; each run starts with empty storage.
 */
async function account(label: string): Promise<{ token: string; sub: string }> {
  const sub = `guest:gates-${label}`;
  return { sub, token: await signToken(validClaims({ sub })) };
}

/** A request to every voice route, each of which must be refused before it reads its body. */
const VOICE_ROUTES: [string, string][] = [
  ["POST", "/api/voice/speech"],
  ["POST", "/api/voice/transcribe"],
  ["GET", "/api/voice/voices"],
  ["POST", "/api/voice/ask"],
  ["POST", "/v1/audio/speech"],
  ["POST", "/v1/audio/transcriptions"],
];

const SCAFFOLD_ROUTES: [string, string][] = [
  ["POST", "/api/scaffold/graph"],
  ["POST", "/api/scaffold/render"],
  ["POST", "/api/scaffold"],
  ["GET", "/api/scaffold"],
  ["GET", "/api/scaffold/0190b2a0-0000-7000-8000-000000000000"],
  ["GET", "/api/scaffold/0190b2a0-0000-7000-8000-000000000000/download"],
  ["DELETE", "/api/scaffold/0190b2a0-0000-7000-8000-000000000000"],
];

async function expectDisabled(response: Response, flag: string): Promise<void> {
  const body = await expectProblem(response, 403, "feature_disabled");
  expect(body.flag).toBe(flag);
}

/** A FLAGS double that counts its snapshot calls, answering `answer()` (which may throw). */
function countingFlags(answer: () => FlagSet): { flags: GatewayEnv["FLAGS"]; calls: () => number } {
  let calls = 0;
  const flags = {
    async snapshot(): Promise<FlagSet> {
      calls += 1;
      return answer();
    },
  };
  return { flags: flags as unknown as GatewayEnv["FLAGS"], calls: () => calls };
}

describe("the gateway's gate evaluation", () => {
  // An operator acting for a user (admin key + X-User-Email) is not counted against a ledger, so
  // these requests leave no waitUntil work behind for gatewayWith to wait out.
  const actingFor = (email: string) => ({ headers: { "X-Admin-Key": ADMIN_KEY, "X-User-Email": email } });

  it("evaluates warm gates with no RPC, from a set loaded once per TTL", async () => {
    const set: FlagSet = {
      version: "warm-test",
      flags: {
        "voice.enabled": {
          definition: GATE_FLAGS["voice.enabled"],
          overrides: { [emailAccount("off@gates.test")]: "off" },
        },
      },
    };
    const { flags, calls } = countingFlags(() => set);
    const settings = { FLAGS: flags, FLAGS_CACHE_TTL_SECONDS: "60" };
    for (let i = 0; i < 5; i++) {
      await expectDisabled(
        await gatewayWith(settings, "/api/voice/voices", actingFor("off@gates.test")),
        "voice.enabled",
      );
      expect((await gatewayWith(settings, "/api/voice/voices", actingFor("on@gates.test"))).status).toBe(200);
    }
    expect(calls()).toBe(1);
  });

  it("treats a gate flag the set does not define as its default, and a flags outage as the defaults", async () => {
    const user = actingFor("default@gates.test");
    const empty = countingFlags(() => ({ version: "empty", flags: {} }));
    expect((await gatewayWith({ FLAGS: empty.flags }, "/api/voice/voices", user)).status).toBe(200);
    expect((await gatewayWith({ FLAGS: empty.flags }, "/api/scaffold", user)).status).toBe(200);
    const down = countingFlags(() => {
      throw new Error("flags worker unavailable");
    });
    expect((await gatewayWith({ FLAGS: down.flags }, "/api/voice/voices", user)).status).toBe(200);
    expect((await gatewayWith({ FLAGS: down.flags }, "/api/scaffold", user)).status).toBe(200);
    expect(down.calls()).toBeGreaterThan(0);
  });

  it("never evaluates a gate for an anonymous caller: 401 first", async () => {
    const { flags, calls } = countingFlags(() => ({ version: "anon", flags: {} }));
    await expectProblem(await gatewayWith({ FLAGS: flags }, "/api/voice/voices"), 401, "unauthenticated");
    await expectProblem(await gatewayWith({ FLAGS: flags }, "/api/scaffold"), 401, "unauthenticated");
    expect(calls()).toBe(0);
  });
});

describe("voice.enabled", () => {
  it("switches every voice route off for an overridden account only, and back on", async () => {
    const off = await guestToken();
    const other = await guestToken();
    await override("voice.enabled", off.sub, "off");
    for (const [method, path] of VOICE_ROUTES) {
      const init = method === "GET" ? { method } : { method, body: "{" };
      await expectDisabled(await as(off.token, path, init), "voice.enabled");
    }
    // The same routes for another account: past the gate (a malformed body is then the client's 4xx).
    for (const [method, path] of VOICE_ROUTES) {
      if (method === "GET") expect((await as(other.token, path)).status).toBe(200);
      else expect([400, 415]).toContain((await as(other.token, path, { method, body: "{" })).status);
    }
    const spoken = await as(other.token, "/api/voice/speech", {
      method: "POST",
      body: JSON.stringify({ text: "Gates open." }),
    });
    expect(spoken.status).toBe(200);
    expect((await spoken.arrayBuffer()).byteLength).toBeGreaterThan(0);

    await override("voice.enabled", off.sub, "on");
    expect((await as(off.token, "/api/voice/voices")).status).toBe(200);
  });

  it("lets exactly the accounts a 30 % rollout picks through, as flagd buckets them", async () => {
    const accounts = await Promise.all(Array.from({ length: 60 }, (_, i) => account(`voice-${i}`)));
    const rollout: FlagRolloutShare[] = [
      { variant: "on", weight: 30 },
      { variant: "off", weight: 70 },
    ];
    await define("voice.enabled", {
      ...GATE_FLAGS["voice.enabled"],
      rules: [{ when: [{ attribute: "targetingKey", op: "in", value: accounts.map((a) => a.sub) }], rollout }],
    });
    const expected = accounts.filter((a) => fractionalVariant("voice.enabled", a.sub, rollout) === "on");
    const through: string[] = [];
    for (const { sub, token } of accounts) {
      const response = await as(token, "/api/voice/voices");
      if (response.status === 200) through.push(sub);
      else await expectDisabled(response, "voice.enabled");
    }
    expect(through.sort()).toEqual(expected.map((a) => a.sub).sort());
    // Both sides are populated, so the assertion above could fail either way.
    expect(expected.length).toBeGreaterThan(5);
    expect(expected.length).toBeLessThan(40);
    // Accounts the rule does not name keep the default: on.
    const outsider = await account("voice-outsider");
    expect((await as(outsider.token, "/api/voice/voices")).status).toBe(200);
  });
});

describe("scaffold.enabled", () => {
  it("switches every scaffold route (and scaffold jobs) off for an overridden account only", async () => {
    const off = await guestToken();
    const other = await guestToken();
    await override("scaffold.enabled", off.sub, "off");
    for (const [method, path] of SCAFFOLD_ROUTES) {
      const init = method === "POST" ? { method, body: JSON.stringify({ graph: FAKE_APP_GRAPH }) } : { method };
      await expectDisabled(await as(off.token, path, init), "scaffold.enabled");
    }
    await expectDisabled(
      await as(off.token, "/api/jobs", {
        method: "POST",
        body: JSON.stringify({ kind: "scaffold.generate", input: { prompt: "[app-graph] a gate" } }),
      }),
      "scaffold.enabled",
    );
    expect((await as(off.token, "/api/jobs")).status).toBe(200);

    const rendered = await as(other.token, "/api/scaffold/render", {
      method: "POST",
      body: JSON.stringify({ graph: FAKE_APP_GRAPH }),
    });
    expect(rendered.status).toBe(201);
    expect((await as(other.token, "/api/scaffold")).status).toBe(200);
  });

  it("fails a queued scaffold.generate job when it runs after the feature was switched off", async () => {
    const user = await guestToken();
    const queued = await as(user.token, "/api/scaffold", {
      method: "POST",
      body: JSON.stringify({ prompt: "[app-graph] a book club, then switched off" }),
    });
    expect(queued.status).toBe(202);
    const { job } = (await queued.json()) as { job: { id: string } };
    const before = (await (await as(user.token, "/api/credits")).json()) as { balance: number };

    await override("scaffold.enabled", user.sub, "off");
    const run = await gateway("/api/jobs/run", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } });
    const ran = ((await run.json()) as { ran: { id: string; outcome: string }[] }).ran;
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("failed");
    await override("scaffold.enabled", user.sub, "on");

    const done = (await (await as(user.token, `/api/jobs/${job.id}`)).json()) as { status: string; last_error: string };
    expect(done.status).toBe("failed");
    expect(done.last_error).toMatch(/^feature_disabled: /);
    // Nothing was designed (no ask billed) and nothing rendered.
    const after = (await (await as(user.token, "/api/credits")).json()) as { balance: number };
    expect(after.balance).toBe(before.balance);
    const listed = (await (await as(user.token, "/api/scaffold")).json()) as { scaffolds: unknown[] };
    expect(listed.scaffolds).toEqual([]);
  });
});

/** Every catalog model the fake providers serve, but gpt-4o: the "stable" set of the rollout. */
const STABLE = ["groq/gpt-oss-20b", "groq/gpt-oss-120b", "openai/gpt-4.1-nano", "openai/gpt-4.1-mini"];

const SI_MODELS = {
  type: "object",
  variants: { all: { models: ["*"] }, nano: { models: ["openai/gpt-4.1-nano"] }, stable: { models: STABLE } },
  default_variant: "all",
};

describe("si.models", () => {
  it("routes an account only to its models, refuses a pinned other one, and lists only its own", async () => {
    const limited = await guestToken();
    const other = await guestToken();
    await define("si.models", { ...SI_MODELS, description: "gates.test: nano for one account" });
    await override("si.models", limited.sub, "nano");

    const pinned = await as(limited.token, "/api/si/ask", {
      method: "POST",
      body: JSON.stringify({ prompt: "hello", model: "groq/gpt-oss-20b" }),
    });
    const refused = await expectProblem(pinned, 403, "feature_disabled");
    expect(refused).toMatchObject({ flag: "si.models", model: "groq/gpt-oss-20b" });
    // Named by its provider's model name, or through the OpenAI-compatible API: refused the same way.
    const byProviderName = await as(limited.token, "/api/si/ask", {
      method: "POST",
      body: JSON.stringify({ prompt: "hello", model: "openai/gpt-oss-20b" }),
    });
    expect(await expectProblem(byProviderName, 403, "feature_disabled")).toMatchObject({ model: "groq/gpt-oss-20b" });
    const chat = await as(limited.token, "/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: "openai/gpt-4o", messages: [{ role: "user", content: "hello" }] }),
    });
    const chatProblem = await expectProblem(chat, 403, "feature_disabled");
    expect(chatProblem.error).toMatchObject({ code: "feature_disabled", type: "feature_disabled" });
    // A model the catalog does not have is still the client's mistake, not a gate.
    const unknown = await as(limited.token, "/api/si/ask", {
      method: "POST",
      body: JSON.stringify({ prompt: "hello", model: "nobody/none" }),
    });
    await expectProblem(unknown, 400, "invalid_input");

    for (const policy of ["cheapest", "fastest", "balanced"]) {
      const routed = await as(limited.token, "/api/si/ask", {
        method: "POST",
        body: JSON.stringify({ prompt: `hello ${policy}`, policy }),
      });
      expect(routed.status).toBe(200);
      expect(((await routed.json()) as { model: string }).model).toBe("openai/gpt-4.1-nano");
    }
    const listed = (await (await as(limited.token, "/v1/models")).json()) as { data: { id: string }[] };
    expect(listed.data.map((m) => m.id)).toEqual(["openai/gpt-4.1-nano"]);

    const free = await as(other.token, "/api/si/ask", {
      method: "POST",
      body: JSON.stringify({ prompt: "hello", model: "groq/gpt-oss-20b" }),
    });
    expect(free.status).toBe(200);
    expect(((await free.json()) as { model: string }).model).toBe("groq/gpt-oss-20b");
    const all = (await (await as(other.token, "/v1/models")).json()) as { data: { id: string }[] };
    expect(all.data.length).toBeGreaterThan(1);
  });

  it("puts exactly the accounts a 10 % rollout picks on the new model", async () => {
    const accounts = await Promise.all(Array.from({ length: 60 }, (_, i) => account(`si-${i}`)));
    const rollout: FlagRolloutShare[] = [
      { variant: "all", weight: 10 },
      { variant: "stable", weight: 90 },
    ];
    await define("si.models", {
      ...SI_MODELS,
      rules: [{ when: [{ attribute: "targetingKey", op: "in", value: accounts.map((a) => a.sub) }], rollout }],
    });
    const expected = accounts.filter((a) => fractionalVariant("si.models", a.sub, rollout) === "all");
    const onNewModel: string[] = [];
    for (const { sub, token } of accounts) {
      // Past the gate, a structured skill cannot stream (400): no provider is called, no credit used.
      const response = await as(token, "/api/si/ask", {
        method: "POST",
        body: JSON.stringify({ prompt: "hi", model: "openai/gpt-4o", skill: "app-graph", stream: true }),
      });
      if (response.status === 400) onNewModel.push(sub);
      else await expectDisabled(response, "si.models");
    }
    expect(onNewModel.sort()).toEqual(expected.map((a) => a.sub).sort());
    expect(expected.length).toBeGreaterThan(2);
    expect(expected.length).toBeLessThan(20);
  });
});
