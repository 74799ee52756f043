import { describe, expect, it } from "vitest";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
const HOUR_MS = 3_600_000;

/** Reports a usage event as the client (POST /api/billing/usage). */
async function reportUsage(token: string, provider: string, model: string, tokensIn: number, credits: number) {
  const response = await as(token, "/api/billing/usage", {
    method: "POST",
    body: JSON.stringify({ tokens_in: tokensIn, tokens_out: 2, provider, model, credits }),
  });
  expect(response.status).toBe(201);
}

async function rollup(body: unknown = {}) {
  const response = await gateway("/api/admin/rollup", { method: "POST", headers: admin, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return (await response.json()) as { hours: number; events: number; rows: number };
}

type Rows = { rows: Record<string, string | number>[] };

describe("usage analytics routes", () => {
  it("roll up on demand, and each tenant reads only its own usage, grouped as asked", async () => {
    const since = Date.now() - HOUR_MS;
    const a = await guestToken();
    const b = await guestToken();
    await reportUsage(a.token, "groq", "llama-3.1-8b-instant", 10, 0.5);
    await reportUsage(a.token, "groq", "llama-3.1-8b-instant", 5, 0.25);
    await reportUsage(a.token, "openai", "gpt-4.1-mini", 7, 1);
    await reportUsage(b.token, "groq", "llama-3.1-8b-instant", 1000, 9);
    const done = await rollup({ from: new Date(since).toISOString() });
    expect(done.hours).toBeGreaterThanOrEqual(2);
    expect(done.events).toBeGreaterThanOrEqual(4);

    const byProvider = await as(
      a.token,
      `/api/analytics/usage?from=${new Date(since).toISOString()}&group_by=provider`,
    );
    expect(byProvider.status).toBe(200);
    expect(((await byProvider.json()) as Rows).rows).toEqual([
      expect.objectContaining({ provider: "openai", requests: 1, tokens_in: 7, credits: 1, credits_micro: 1_000_000 }),
      expect.objectContaining({ provider: "groq", requests: 2, tokens_in: 15, tokens_out: 4, credits: 0.75 }),
    ]);
    const byModel = (await (await as(a.token, "/api/analytics/usage?group_by=model")).json()) as Rows;
    expect(byModel.rows.map((row) => [row.model, row.requests])).toEqual([
      ["gpt-4.1-mini", 1],
      ["llama-3.1-8b-instant", 2],
    ]);
    const byDay = (await (await as(a.token, "/api/analytics/usage?group_by=day")).json()) as Rows;
    expect(byDay.rows.reduce((sum, row) => sum + (row.requests as number), 0)).toBe(3);
    for (const row of byDay.rows) expect(row.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const byHour = (await (await as(a.token, "/api/analytics/usage")).json()) as Rows & { group_by: string };
    expect(byHour.group_by).toBe("hour");
    for (const row of byHour.rows) expect(row.hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/);
    // B sees its own event and nothing of A's.
    const other = (await (await as(b.token, "/api/analytics/usage?group_by=provider")).json()) as Rows;
    expect(other.rows).toEqual([expect.objectContaining({ provider: "groq", requests: 1, tokens_in: 1000 })]);
  });

  it("let an admin read any tenant, or everyone by account, and the runs", async () => {
    const a = await guestToken();
    await reportUsage(a.token, "groq", "llama-3.1-8b-instant", 3, 0.1);
    await rollup({});
    const one = await gateway(`/api/admin/analytics/usage?account=${encodeURIComponent(a.sub)}&group_by=model`, {
      headers: admin,
    });
    expect(one.status).toBe(200);
    expect(((await one.json()) as Rows).rows).toEqual([
      expect.objectContaining({ model: "llama-3.1-8b-instant", requests: 1, tokens_in: 3 }),
    ]);
    const all = (await (
      await gateway("/api/admin/analytics/usage?group_by=account", { headers: admin })
    ).json()) as Rows;
    expect(all.rows.find((row) => row.account === a.sub)).toMatchObject({ requests: 1 });
    const runs = await gateway("/api/admin/analytics/rollups", { headers: admin });
    expect(runs.status).toBe(200);
    const status = (await runs.json()) as { runs: { status: string }[]; lag_hours: number };
    expect(status.runs[0]).toMatchObject({ status: "succeeded" });
    expect(typeof status.lag_hours).toBe("number");
  });

  it("are admin-only where they say so", async () => {
    const { token } = await guestToken();
    await expectProblem(await as(token, "/api/admin/rollup", { method: "POST", body: "{}" }), 401, "unauthenticated");
    await expectProblem(await as(token, "/api/admin/analytics/usage"), 401, "unauthenticated");
    await expectProblem(await as(token, "/api/admin/analytics/rollups"), 401, "unauthenticated");
    await expectProblem(
      await gateway("/api/admin/rollup", { method: "POST", headers: { "X-Admin-Key": "wrong-key" }, body: "{}" }),
      403,
      "forbidden",
    );
    await expectProblem(await gateway("/api/analytics/usage"), 401, "unauthenticated");
    // A tenant cannot read by account, nor name one.
    await expectProblem(await as(token, "/api/analytics/usage?group_by=account"), 400, "invalid_input");
  });

  it("refuse bad ranges and bodies with 400", async () => {
    const { token } = await guestToken();
    for (const query of [
      "from=2026-12-01T10:00:00Z&to=2026-12-01T09:00:00Z",
      "from=2026-01-01&to=2026-12-01",
      "from=yesterday",
      "to=2026-02-30T00:00:00Z",
      "group_by=week",
      `from=${"9".repeat(5000)}`,
    ])
      await expectProblem(await as(token, `/api/analytics/usage?${query}`), 400, "invalid_input");
    await expectProblem(
      await gateway("/api/admin/analytics/usage?account=%20", { headers: admin }),
      400,
      "invalid_input",
    );
    for (const body of [
      '{"from":"2026-12-01T10:00:00Z","to":"2026-12-01T09:00:00Z"}',
      '{"from":"soon"}',
      "[]",
      '{"x":1}',
    ])
      await expectProblem(
        await gateway("/api/admin/rollup", { method: "POST", headers: admin, body }),
        400,
        "invalid_input",
      );
    await expectProblem(
      await gateway("/api/admin/rollup", { method: "POST", headers: admin, body: "{" }),
      400,
      "malformed_json",
    );
  });
});
