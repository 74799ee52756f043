import { describe, expect, it } from "vitest";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

const adminJson = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };

function adjust(body: unknown, key?: string): Promise<Response> {
  const headers: Record<string, string> = { ...adminJson };
  if (key !== undefined) headers["Idempotency-Key"] = key;
  return gateway("/api/credits/adjust", {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("GET /api/credits", () => {
  it("shows a new guest's starter credits with billing and limit headers", async () => {
    const { token, sub } = await guestToken();
    const response = await as(token, "/api/credits");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ account: sub, balance: 5, reserved: 0, available: 5, holds: [] });
    expect(response.headers.get("X-Credits-Balance")).toBe("5");
    expect(response.headers.get("X-Limit-Requests-Limit")).toBe("120");
    expect(Number(response.headers.get("X-Limit-Requests-Remaining"))).toBe(119);
    expect(response.headers.get("X-Limit-Credits-Remaining")).toBe("100");
    expect(response.headers.get("RateLimit-Policy")).toBe('"rpm";q=120;w=60');
    expect(response.headers.get("RateLimit")).toMatch(/^"rpm";r=119;t=\d+$/);
  });

  it("401s an anonymous caller", async () => {
    await expectProblem(await gateway("/api/credits"), 401, "unauthenticated");
  });
});

describe("POST /api/credits/adjust", () => {
  it("credits and debits an account exactly once per Idempotency-Key", async () => {
    const { token, sub } = await guestToken();
    const first = await adjust({ account: sub, delta: 1.5, reason: "welcome bonus" }, "bonus-1");
    expect(first.status).toBe(200);
    const body = (await first.json()) as { entry: Record<string, unknown>; balance: number };
    expect(body.balance).toBe(6.5);
    expect(body.entry).toMatchObject({ kind: "adjust", amount: 1.5, reason: "welcome bonus", actor: "admin" });
    expect(first.headers.get("X-Credits-Balance")).toBe("6.5");

    const replay = await adjust({ account: sub, delta: 1.5, reason: "welcome bonus" }, "bonus-1");
    expect(await replay.json()).toEqual(body);
    await expectProblem(
      await adjust({ account: sub, delta: 2, reason: "welcome bonus" }, "bonus-1"),
      422,
      "idempotency_mismatch",
    );

    const debit = await adjust({ account: sub, delta: -0.25, reason: "correction" }, "fix-1");
    expect(((await debit.json()) as { balance: number }).balance).toBe(6.25);
    expect(((await (await as(token, "/api/credits")).json()) as { balance: number }).balance).toBe(6.25);
  });

  it("402s a debit larger than the balance and changes nothing", async () => {
    const { token, sub } = await guestToken();
    const problem = await expectProblem(
      await adjust({ account: sub, delta: -5.000001, reason: "too much" }, "big"),
      402,
      "insufficient_credits",
    );
    expect(problem.available).toBe(5_000_000);
    expect(((await (await as(token, "/api/credits")).json()) as { balance: number }).balance).toBe(5);
  });

  it("refuses bad input with clear 4xx answers", async () => {
    const { sub } = await guestToken();
    await expectProblem(await adjust({ account: sub, delta: 1, reason: "x" }), 400, "invalid_input");
    await expectProblem(await adjust({ account: sub, delta: 1, reason: "x" }, "has space"), 400, "invalid_input");
    for (const body of [
      { account: sub, delta: 0.0000001, reason: "fractional" },
      { account: sub, delta: 1e10, reason: "huge" },
      { account: sub, delta: -1e10, reason: "huge" },
      { account: sub, delta: "1", reason: "string" },
      { account: sub, delta: 0, reason: "zero" },
      { account: sub, reason: "no delta" },
      { account: sub, delta: 1 },
      { account: "", delta: 1, reason: "x" },
      [],
    ]) {
      await expectProblem(await adjust(body, crypto.randomUUID()), 400, "invalid_input");
    }
    await expectProblem(await adjust("{not json", "k"), 400, "malformed_json");
    await expectProblem(
      await adjust({ account: "guest:never-signed-in", delta: 1, reason: "x" }, "k"),
      404,
      "not_found",
    );
    await expectProblem(await adjust({ account: "nobody@example.com", delta: 1, reason: "x" }, "k"), 404, "not_found");
  });

  it("is for admins only", async () => {
    const { token, sub } = await guestToken();
    const init = {
      method: "POST",
      headers: { "Idempotency-Key": "k", "Content-Type": "application/json" },
      body: JSON.stringify({ account: sub, delta: 100, reason: "free money" }),
    };
    await expectProblem(await as(token, "/api/credits/adjust", init), 401, "unauthenticated");
    await expectProblem(
      await gateway("/api/credits/adjust", { ...init, headers: { ...init.headers, "X-Admin-Key": "wrong" } }),
      403,
      "forbidden",
    );
  });

  it("never overspends under concurrent debits through the gateway", async () => {
    const { token, sub } = await guestToken();
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) => adjust({ account: sub, delta: -0.1, reason: "burst" }, `burst-${i}`)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 402)).toHaveLength(10);
    expect(((await (await as(token, "/api/credits")).json()) as { balance: number }).balance).toBe(0);
  });
});

describe("GET /api/credits/history", () => {
  it("lists the caller's entries newest first, paged", async () => {
    const { token, sub } = await guestToken();
    await adjust({ account: sub, delta: 1, reason: "one" }, "h1");
    await adjust({ account: sub, delta: 2, reason: "two" }, "h2");
    const page = (await (await as(token, "/api/credits/history?limit=2")).json()) as {
      entries: { reason: string }[];
      cursor: string;
    };
    expect(page.entries.map((e) => e.reason)).toEqual(["two", "one"]);
    const next = (await (await as(token, `/api/credits/history?limit=2&cursor=${page.cursor}`)).json()) as {
      entries: { kind: string }[];
      cursor: null;
    };
    expect(next).toEqual({ entries: [expect.objectContaining({ kind: "grant", amount: 5 })], cursor: null });
    await expectProblem(await as(token, "/api/credits/history?limit=1000"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/credits/history?cursor=zzz"), 400, "invalid_input");
  });
});

describe("usage events", () => {
  const report = { tokens_in: 120, tokens_out: 48, provider: "groq", model: "llama-3.1-8b-instant", credits: 0.000336 };

  it("records a reported event with the server's time and request id, and lists it", async () => {
    const { token } = await guestToken();
    const before = Date.now();
    const posted = await as(token, "/api/billing/usage", {
      method: "POST",
      headers: { "X-Request-Id": "usage-request-0001" },
      body: JSON.stringify(report),
    });
    expect(posted.status).toBe(201);
    const event = (await posted.json()) as Record<string, unknown>;
    expect(event).toMatchObject({ ...report, request_id: "usage-request-0001", source: "client" });
    expect(Date.parse(event.at as string)).toBeGreaterThanOrEqual(before - 1000);

    for (const path of ["/api/billing/usage", "/api/usage", "/usage"]) {
      const listed = (await (await as(token, path)).json()) as { events: unknown[]; cursor: null };
      expect(listed, path).toEqual({ events: [event], cursor: null });
    }
  });

  it("only lists the caller's own events", async () => {
    const alice = await guestToken();
    const bob = await guestToken();
    await as(alice.token, "/api/usage", { method: "POST", body: JSON.stringify(report) });
    expect(((await (await as(bob.token, "/api/usage")).json()) as { events: unknown[] }).events).toEqual([]);
  });

  it("pages through events and filters by time", async () => {
    const { token } = await guestToken();
    for (let i = 0; i < 5; i++)
      await as(token, "/usage", { method: "POST", body: JSON.stringify({ ...report, tokens_in: i }) });
    const first = (await (await as(token, "/usage?limit=3")).json()) as {
      events: { tokens_in: number }[];
      cursor: string;
    };
    expect(first.events.map((e) => e.tokens_in)).toEqual([0, 1, 2]);
    const rest = (await (await as(token, `/usage?limit=3&cursor=${first.cursor}`)).json()) as {
      events: { tokens_in: number }[];
    };
    expect(rest.events.map((e) => e.tokens_in)).toEqual([3, 4]);
    const past = (await (await as(token, "/usage?from=2020-01-01&to=2020-01-02")).json()) as { events: unknown[] };
    expect(past.events).toEqual([]);
  });

  it("replays an Idempotency-Key and refuses it for a different body", async () => {
    const { token } = await guestToken();
    const send = (body: unknown) =>
      as(token, "/api/billing/usage", {
        method: "POST",
        headers: { "Idempotency-Key": "usage-1" },
        body: JSON.stringify(body),
      });
    const first = await (await send(report)).json();
    expect(await (await send(report)).json()).toEqual(first);
    await expectProblem(await send({ ...report, tokens_in: 1 }), 422, "idempotency_mismatch");
    expect(((await (await as(token, "/api/usage")).json()) as { events: unknown[] }).events).toHaveLength(1);
  });

  it("refuses bad reports and bad queries", async () => {
    const { token } = await guestToken();
    for (const body of [
      { ...report, tokens_in: -1 },
      { ...report, tokens_in: 1.5 },
      { ...report, provider: "Bad Provider" },
      { ...report, model: "" },
      { ...report, credits: -1 },
      { ...report, extra: true },
      { tokens_in: 1 },
    ]) {
      await expectProblem(
        await as(token, "/api/usage", { method: "POST", body: JSON.stringify(body) }),
        400,
        "invalid_input",
      );
    }
    for (const query of [
      "from=yesterday",
      "from=2026-02-01&to=2026-01-01",
      "from=2026-01-01&to=2026-03-01",
      "limit=0",
      "cursor=%%%",
      // A forged cursor pointing far outside the window.
      "cursor=eyJkYXkiOi0xMDAwMDAwMDAwMDAwLCJrdiI6bnVsbH0",
    ]) {
      await expectProblem(await as(token, `/api/usage?${query}`), 400, "invalid_input");
    }
    await expectProblem(
      await gateway("/api/usage", { method: "POST", body: JSON.stringify(report) }),
      401,
      "unauthenticated",
    );
  });
});

describe("limits", () => {
  it("429s requests over a tenant's per-minute limit with Retry-After and X-Limit headers", async () => {
    const { token, sub } = await guestToken();
    const set = await gateway(`/api/admin/limits/${encodeURIComponent(sub)}`, {
      method: "PUT",
      headers: adminJson,
      body: JSON.stringify({ rpm: 2 }),
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ rpm: { limit: 2 } });

    expect((await as(token, "/api/me")).status).toBe(200);
    const second = await as(token, "/api/credits");
    expect(second.headers.get("X-Limit-Requests-Remaining")).toBe("0");
    const third = await as(token, "/api/credits");
    const problem = await expectProblem(third, 429, "rate_limited");
    expect(problem.limit).toBe("rpm");
    const retryAfter = Number(third.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(third.headers.get("X-Limit-Requests-Remaining")).toBe("0");
    expect(third.headers.get("X-Limit-Requests-Limit")).toBe("2");
  });

  it("shows the caller's limits, and lets an admin restore the defaults", async () => {
    const { token, sub } = await guestToken();
    await gateway(`/api/admin/limits/${sub}`, {
      method: "PUT",
      headers: adminJson,
      body: JSON.stringify({ daily_credits: 2.5 }),
    });
    expect(await (await as(token, "/api/limits")).json()).toMatchObject({
      daily_credits: { limit: 2.5, remaining: 2.5 },
    });
    await gateway(`/api/admin/limits/${sub}`, {
      method: "PUT",
      headers: adminJson,
      body: JSON.stringify({ daily_credits: null }),
    });
    expect(await (await as(token, "/api/limits")).json()).toMatchObject({ daily_credits: { limit: 100 } });
  });

  it("refuses bad limits and unknown accounts", async () => {
    const { sub } = await guestToken();
    await expectProblem(
      await gateway(`/api/admin/limits/${sub}`, {
        method: "PUT",
        headers: adminJson,
        body: JSON.stringify({ rpm: -1 }),
      }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await gateway("/api/admin/limits/guest:unknown", { method: "PUT", headers: adminJson, body: "{}" }),
      404,
      "not_found",
    );
    await expectProblem(
      await gateway(`/api/admin/limits/${sub}`, { method: "PUT", body: "{}" }),
      401,
      "unauthenticated",
    );
  });
});
