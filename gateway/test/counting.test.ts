import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { env } from "../../test-support/mesh-env";
import worker from "../src/index";
import { gatewayRoutes } from "../src/routes";
import { ADMIN_KEY, as, BASE, expectProblem, gateway, guestToken } from "./helpers";

const adminJson = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };

async function setRpm(sub: string, rpm: number): Promise<void> {
  const set = await gateway(`/api/admin/limits/${encodeURIComponent(sub)}`, {
    method: "PUT",
    headers: adminJson,
    body: JSON.stringify({ rpm }),
  });
  expect(set.status).toBe(200);
}

function ask(token: string, body: string): Promise<Response> {
  return as(token, "/api/si/ask", { method: "POST", body });
}

function chat(token: string, body: string): Promise<Response> {
  return as(token, "/v1/chat/completions", { method: "POST", body });
}

/** What an answer says is left of the caller's requests this minute (undefined: not counted). */
function remainingOf(response: Response): { remaining: number; reset: number } | undefined {
  const remaining = response.headers.get("X-Limit-Requests-Remaining");
  if (remaining === null) return undefined;
  return { remaining: Number(remaining), reset: Number(response.headers.get("X-Limit-Requests-Reset")) };
}

/**
 * Routes that never resolve a user: public ones and admin-only ones. Every other route must count
 * each request once; a new route is counted unless it is deliberately listed here.
 */
const UNCOUNTED = new Set([
  "GET /ready",
  "GET /openapi.json",
  "GET /api/admin/ping",
  "POST /auth/guest",
  "GET /.well-known/jwks.json",
  "GET /api/admin/keys",
  "POST /api/admin/keys",
  "DELETE /api/admin/keys/:kid",
  "POST /api/credits/adjust",
  "PUT /api/admin/limits/:account",
  "GET /api/ai/binding",
  "POST /api/ai/test",
  "GET /api/admin/catalog",
  "PUT /api/admin/catalog",
  "DELETE /api/admin/catalog",
  "GET /api/admin/voice-catalog",
  "PUT /api/admin/voice-catalog",
  "DELETE /api/admin/voice-catalog",
  "POST /api/jobs/run",
  "POST /api/admin/cleanup",
  "GET /api/admin/flags",
  "GET /api/admin/flags/:key",
  "PUT /api/admin/flags/:key",
  "DELETE /api/admin/flags/:key",
  "PUT /api/admin/flags/:key/overrides/:account",
  "DELETE /api/admin/flags/:key/overrides/:account",
  "GET /api/admin/flags/:key/history",
  "POST /api/admin/rollup",
  "GET /api/admin/analytics/usage",
  "GET /api/admin/analytics/rollups",
]);

/** The billing binding, recording the name of every ledger-facing call made through it. */
function recordedBilling(): { billing: GatewayEnv["BILLING"]; calls: string[] } {
  const calls: string[] = [];
  const real = env.BILLING as unknown as Record<string, (...args: unknown[]) => unknown>;
  // Every method is wrapped, never `bind`-ed: on an RPC binding `.bind` would be a remote call.
  const billing = new Proxy(real, {
    get(target, method: string) {
      return (...args: unknown[]) => {
        if (method !== "tokenVerification") calls.push(method);
        return target[method]?.(...args);
      };
    },
  }) as unknown as GatewayEnv["BILLING"];
  return { billing, calls };
}

describe("request counting", () => {
  it("counts AI asks that fail on their input, so invalid asks cannot be sent for free", async () => {
    // Four requests inside one minute's window: when a new minute starts between the first and the
    // third (the reset grows), the count restarts, so the sequence is run again with a new account.
    let token = "";
    let unknown: Response | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const guest = await guestToken();
      token = guest.token;
      await setRpm(guest.sub, 3);
      // Malformed JSON, a body the schema refuses, a model no plan can use: each is counted.
      const first = await ask(token, "{");
      await expectProblem(first, 400, "malformed_json");
      await expectProblem(await ask(token, JSON.stringify({ prompt: 7 })), 400, "invalid_input");
      unknown = await ask(token, JSON.stringify({ prompt: "hi", model: "nobody/nothing" }));
      await expectProblem(unknown, 400, "invalid_input");
      if ((remainingOf(unknown)?.reset ?? 0) <= (remainingOf(first)?.reset ?? 0)) break;
    }
    expect(unknown?.headers.get("X-Limit-Requests-Remaining")).toBe("0");
    const refused = await ask(token, JSON.stringify({ prompt: "hi", model: "groq/gpt-oss-20b" }));
    const problem = await expectProblem(refused, 429, "rate_limited");
    expect(problem.limit).toBe("rpm");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.headers.get("RateLimit")).toMatch(/^"rpm";r=0;t=\d+$/);
  });

  it("counts chat completions that fail on their input", async () => {
    const { token, sub } = await guestToken();
    await setRpm(sub, 2);
    await expectProblem(await chat(token, "{"), 400, "malformed_json");
    await expectProblem(await chat(token, JSON.stringify({ model: "auto", messages: [], n: 2 })), 400, "invalid_input");
    const refused = await chat(
      token,
      JSON.stringify({ model: "groq/gpt-oss-20b", messages: [{ role: "user", content: "hi" }] }),
    );
    await expectProblem(refused, 429, "rate_limited");
  });

  it("counts every request to every authenticated route exactly once, even when its input is bad", async () => {
    const { token, sub } = await guestToken();
    await setRpm(sub, 100_000);
    const routes = gatewayRoutes()
      .routes.filter(([method]) => method !== "ALL")
      .map(([method, , , path]) => ({ method, path: path as string, name: `${method} ${path}` }));
    expect(routes.length).toBeGreaterThan(30);
    const counted: string[] = [];
    for (const route of routes) {
      // Malformed percent-encoding in every path parameter and a malformed body: whatever the
      // route does with its input, the request is counted before it.
      const path = route.path.replace(/:[a-z]+/g, "%ZZ");
      const init: RequestInit = { method: route.method };
      if (route.method !== "GET" && route.method !== "DELETE") init.body = "{";
      for (let attempt = 0; ; attempt++) {
        const before = remainingOf(await as(token, "/api/limits"));
        const response = await as(token, path, init);
        await response.body?.cancel();
        const after = remainingOf(await as(token, "/api/limits"));
        if (!before || !after) throw new Error("GET /api/limits must carry the limit headers");
        // A new minute between the two reads resets the count: measure again.
        if (after.reset > before.reset && attempt === 0) continue;
        const own = remainingOf(response);
        if (UNCOUNTED.has(route.name)) {
          expect({ route: route.name, own }).toEqual({ route: route.name, own: undefined });
          expect({ route: route.name, used: before.remaining - after.remaining }).toEqual({
            route: route.name,
            used: 1,
          });
        } else {
          expect({ route: route.name, own: own?.remaining }).toEqual({ route: route.name, own: before.remaining - 1 });
          expect({ route: route.name, used: before.remaining - after.remaining }).toEqual({
            route: route.name,
            used: 2,
          });
          counted.push(route.name);
        }
        break;
      }
    }
    // The AI routes, jobs, uploads, RAG, credits and the OpenAI-compatible API among them.
    expect(counted).toEqual(
      expect.arrayContaining([
        "POST /api/si/ask",
        "POST /v1/chat/completions",
        "GET /v1/models",
        "POST /api/jobs",
        "PATCH /api/jobs/:id",
        "POST /api/upload/direct",
        "POST /api/rag/query",
        "POST /api/voice/speech",
        "POST /api/voice/transcribe",
        "POST /api/voice/ask",
        "POST /v1/audio/speech",
        "POST /v1/audio/transcriptions",
        "GET /api/credits",
        "GET /api/me",
        "POST /ofrep/v1/evaluate/flags/:key",
        "POST /ofrep/v1/evaluate/flags",
        "GET /api/flags",
      ]),
    );
  });

  it("does not count requests made with an admin key, also when acting for a user", async () => {
    const email = `operator-${crypto.randomUUID()}@example.com`;
    const account = { sub: `email:${email}`, source: "header" as const, admin: false };
    for (let i = 0; i < 3; i++) {
      const response = await gateway("/api/credits", { headers: { "X-Admin-Key": ADMIN_KEY, "X-User-Email": email } });
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Limit-Requests-Remaining")).toBeNull();
    }
    const limits = await env.BILLING.limits(account, { requestId: "counting-test" });
    expect(limits.rpm.remaining).toBe(limits.rpm.limit);
  });

  it("does not count a job's ask when it runs: only the request that created the job", async () => {
    const { token, sub } = await guestToken();
    await setRpm(sub, 1_000);
    const created = await as(token, "/api/jobs", {
      method: "POST",
      body: JSON.stringify({ kind: "si.ask", input: { prompt: "queued", model: "groq/gpt-oss-20b" } }),
    });
    expect(created.status).toBe(201);
    const afterCreate = remainingOf(created)?.remaining;
    const { id } = (await created.json()) as { id: string };
    const run = await gateway("/api/jobs/run", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } });
    expect(run.status).toBe(200);
    const job = await as(token, `/api/jobs/${id}`);
    expect(((await job.json()) as { status: string }).status).toBe("succeeded");
    // Reading the job is one more request; running its ask was none.
    expect(remainingOf(job)?.remaining).toBe((afterCreate as number) - 1);
  });

  it("GET /api/credits makes one ledger call in steady state and after the account was idle", async () => {
    const { token } = await guestToken();
    const { billing, calls } = recordedBilling();
    const background: ExecutionContext[] = [];
    /** One GET /api/credits: the ledger calls made before its answer. */
    const credits = async () => {
      calls.length = 0;
      const request = new Request(`${BASE}/api/credits`, { headers: { Authorization: `Bearer ${token}` } });
      const exec = createExecutionContext();
      background.push(exec);
      const response = await worker.fetch(
        request as Request<unknown, IncomingRequestCfProperties>,
        { ...env, BILLING: billing },
        exec,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Limit-Requests-Remaining")).not.toBeNull();
      expect(response.headers.get("X-Credits-Balance")).toBe("5");
      expect(await response.json()).toMatchObject({ balance: 5, reserved: 0, available: 5, holds: [] });
      return [...calls];
    };
    // The first request of an idle account: one grant, which carries the balance and holds too.
    expect(await credits()).toEqual(["openAllowance"]);
    // Steady state: a slot in hand, one overview each (a new minute may need a grant instead).
    for (let i = 0; i < 5; i++) {
      const made = await credits();
      expect(made).toHaveLength(1);
      expect(["overview", "openAllowance"]).toContain(made[0]);
    }
    // Idle past the give-back (the requests' background work done), the next is again one call.
    calls.length = 0;
    await Promise.all(background.map((exec) => waitOnExecutionContext(exec)));
    expect(calls).toContain("settleAllowance");
    expect(await credits()).toEqual(["openAllowance"]);
  });

  it("GET /api/limits answers from the grant that counted it, with the headers' numbers", async () => {
    const { token } = await guestToken();
    const { billing, calls } = recordedBilling();
    const request = new Request(`${BASE}/api/limits`, { headers: { Authorization: `Bearer ${token}` } });
    const exec = createExecutionContext();
    const response = await worker.fetch(
      request as Request<unknown, IncomingRequestCfProperties>,
      { ...env, BILLING: billing },
      exec,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { rpm: { remaining: number } };
    expect(calls).toEqual(["openAllowance"]);
    expect(body.rpm.remaining).toBe(Number(response.headers.get("X-Limit-Requests-Remaining")));
    await waitOnExecutionContext(exec);
  });
});
