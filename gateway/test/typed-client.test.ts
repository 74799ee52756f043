// The typed client a user gets: clients/typescript/openapi.d.ts (generated from docs/openapi.json by
// `npm run openapi`) with openapi-fetch, driven through the real gateway. The test is type-checked,
// so a route, parameter or field the document lost or retyped fails `npm run typecheck` here, and
// every answer is also validated against the document by the contract check in gatewayFetch.

import createClient from "openapi-fetch";
import { describe, expect, it } from "vitest";
import type { components, paths } from "../../clients/typescript/openapi";
import { uniqueClientAddress } from "../../test-support/client-address";
import { BASE, gatewayFetch } from "./helpers";

type Problem = components["schemas"]["Problem"];

/** A client as a user would make one, its requests served by the gateway under test. */
function client(token?: string) {
  return createClient<paths>({
    baseUrl: BASE,
    fetch: gatewayFetch,
    ...(token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } }),
  });
}

describe("the typed client (openapi-typescript + openapi-fetch)", () => {
  it("takes a guest token, reads who it is and its balance, asks, and reads problems as problems", async () => {
    const anonymous = client();
    const issued = await anonymous.POST("/auth/guest", {
      body: {},
      headers: { "CF-Connecting-IP": uniqueClientAddress() },
    });
    expect(issued.response.status).toBe(200);
    if (!issued.data) throw new Error(`no token: ${JSON.stringify(issued.error)}`);
    const { token, sub, token_type } = issued.data;
    expect(token_type).toBe("Bearer");
    expect(sub).toMatch(/^guest:/);

    const signedIn = client(token);
    const me = await signedIn.GET("/api/me");
    expect(me.data).toMatchObject({ sub, source: "jwt", admin: false });
    expect(me.data?.request_id).toBe(me.response.headers.get("X-Request-Id"));

    const before = await signedIn.GET("/api/credits");
    expect(before.data).toMatchObject({ account: sub, balance: 5, reserved: 0, available: 5, holds: [] });

    const asked = await signedIn.POST("/api/si/ask", { body: { prompt: "hello mesh", model: "groq/gpt-oss-20b" } });
    expect(asked.response.status).toBe(200);
    const answer = asked.data;
    if (!answer || typeof answer === "string") throw new Error(`no JSON answer: ${JSON.stringify(asked.error)}`);
    // 12 in × 7.5 + 5 out × 30 micro-credits = 240 micro-credits (the loopback provider's usage).
    expect(answer).toMatchObject({
      output: "Echo: hello mesh",
      usage: { tokens_in: 12, tokens_out: 5, estimated: false },
      credits_used: 0.00024,
      balance: 4.99976,
      provider: "groq",
      model: "groq/gpt-oss-20b",
    });
    expect(asked.response.headers.get("X-Credits-Balance")).toBe("4.99976");

    // Errors come back as `error`, typed as the document's problem body.
    const unknownModel = await signedIn.POST("/api/si/ask", { body: { prompt: "hello", model: "nobody/none" } });
    expect(unknownModel.data).toBeUndefined();
    const problem: Problem | undefined = unknownModel.error;
    expect(problem).toMatchObject({ status: 400, code: "invalid_input", title: "Invalid input" });
    expect(problem?.request_id).toBe(unknownModel.response.headers.get("X-Request-Id"));

    const noToken = await anonymous.GET("/api/me");
    expect(noToken.response.status).toBe(401);
    expect(noToken.error?.code).toBe("unauthenticated");
    expect(noToken.response.headers.get("Content-Type")).toBe("application/problem+json");
  });

  it("keeps one caller's client from reading another's resources", async () => {
    const tokens = await Promise.all(
      [0, 1].map(async () => {
        const issued = await client().POST("/auth/guest", {
          body: {},
          headers: { "CF-Connecting-IP": uniqueClientAddress() },
        });
        if (!issued.data) throw new Error("no token");
        return issued.data.token;
      }),
    );
    const [owner, other] = tokens.map((token) => client(token));
    if (!owner || !other) throw new Error("two clients");
    const job = await owner.POST("/api/jobs", {
      body: { kind: "si.ask", input: { prompt: "queued hello", max_tokens: 16 } },
    });
    expect(job.response.status).toBe(201);
    const id = job.data?.id ?? "";
    const mine = await owner.GET("/api/jobs/{id}", { params: { path: { id } } });
    expect(mine.data?.id).toBe(id);
    const theirs = await other.GET("/api/jobs/{id}", { params: { path: { id } } });
    expect(theirs.response.status).toBe(404);
    expect(theirs.error?.code).toBe("not_found");
  });
});
