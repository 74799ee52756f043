import { describe, expect, it, vi } from "vitest";
import { GROQ_SMALL, OPENAI_NANO } from "../../test-support/catalog";
import { readEvents } from "../../test-support/sse-events";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken, openaiClient as openai } from "./helpers";

function ask(token: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return as(token, "/api/si/ask", { method: "POST", headers, body: JSON.stringify(body) });
}

/**
 * Waits for the ledger to show `balance`: an ask's charge is written just after its answer goes
 * out (its balance is already in the answer), so the ledger may take a moment to catch up.
 */
async function expectLedgerBalance(token: string, balance: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const credits = (await (await as(token, "/api/credits")).json()) as { balance: number };
      expect(credits.balance).toBe(balance);
    },
    { timeout: 3_000, interval: 10 },
  );
}

describe("POST /api/si/ask through the gateway", () => {
  it("answers, bills every token and says so in the headers", async () => {
    const { token } = await guestToken();
    const response = await ask(token, { prompt: "hello mesh", model: "groq/gpt-oss-20b" });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    // 12 in × 7.5 + 5 out × 30 micro-credits = 90 + 150 = 240.
    expect(body).toMatchObject({
      output: "Echo: hello mesh",
      usage: { tokens_in: 12, tokens_out: 5, estimated: false },
      credits_used: 0.00024,
      balance: 4.99976,
      provider: "groq",
      model: "groq/gpt-oss-20b",
    });
    expect(body.request_id).toBe(response.headers.get("X-Request-Id"));
    expect(
      Object.fromEntries(
        ["X-Credits-Used", "X-Credits-Balance", "X-Tokens-In", "X-Tokens-Out", "X-Provider", "X-Model"].map((h) => [
          h,
          response.headers.get(h),
        ]),
      ),
    ).toEqual({
      "X-Credits-Used": "0.00024",
      "X-Credits-Balance": "4.99976",
      "X-Tokens-In": "12",
      "X-Tokens-Out": "5",
      "X-Provider": "groq",
      "X-Model": "groq/gpt-oss-20b",
    });
    expect(response.headers.get("X-Limit-Requests-Remaining")).toBeTruthy();
    await expectLedgerBalance(token, 4.99976);
  });

  it("falls back to another provider and tells the route (with an admin's catalog)", async () => {
    const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
    const catalog = [
      { ...GROQ_SMALL, capabilities: ["chat", "stream"] },
      { ...OPENAI_NANO, capabilities: ["chat", "stream"] },
    ];

    expect(
      (await gateway("/api/admin/catalog", { method: "PUT", headers: admin, body: JSON.stringify(catalog) })).status,
    ).toBe(200);
    try {
      const { token } = await guestToken();
      const body = (await (await ask(token, { prompt: "[429] please", policy: "cheapest" })).json()) as {
        provider: string;
        route: { reason: string; attempts: { provider: string; outcome: string }[] };
      };
      expect(body.provider).toBe("openai");
      expect(body.route.attempts.map((a) => `${a.provider}:${a.outcome}`)).toEqual(["groq:rate_limited", "openai:ok"]);
      expect(body.route.reason).toContain("fell back to openai/gpt-4.1-nano");
      expect(
        ((await (await gateway("/api/admin/catalog", { headers: admin })).json()) as { source: string }).source,
      ).toBe("override");
      await expectProblem(
        await gateway("/api/admin/catalog", { method: "PUT", headers: admin, body: JSON.stringify([{ id: "x" }]) }),
        400,
        "invalid_input",
      );
    } finally {
      await gateway("/api/admin/catalog", { method: "DELETE", headers: admin });
    }
  });

  it("refuses a catalog model id longer than billing can record a charge for", async () => {
    const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
    const entry = { ...GROQ_SMALL, id: `groq/${"m".repeat(96)}`, capabilities: ["chat"] };
    try {
      await expectProblem(
        await gateway("/api/admin/catalog", { method: "PUT", headers: admin, body: JSON.stringify([entry]) }),
        400,
        "invalid_input",
      );
      expect(
        ((await (await gateway("/api/admin/catalog", { headers: admin })).json()) as { source: string }).source,
      ).toBe("default");
    } finally {
      await gateway("/api/admin/catalog", { method: "DELETE", headers: admin });
    }
  });

  it("streams server-sent events ending with usage and credits", async () => {
    const { token } = await guestToken();
    const response = await ask(token, { prompt: "stream me", model: "groq/gpt-oss-20b", stream: true });
    expect(response.headers.get("Content-Type")).toContain("text/event-stream");
    expect(response.headers.get("X-Provider")).toBe("groq");
    const all = await readEvents(response);
    expect(
      all
        .filter((e) => e.event === "token")
        .map((e) => e.data.text)
        .join(""),
    ).toBe("Echo: stream me");
    expect(all.at(-1)).toMatchObject({
      event: "done",
      data: { usage: { tokens_in: 12, tokens_out: 5 }, credits_used: 0.00024 },
    });
  });

  it("ends a cut stream with an error event, never a silent 200", async () => {
    const { token } = await guestToken();
    const all = await readEvents(await ask(token, { prompt: "[cut] go", model: "groq/gpt-oss-20b", stream: true }));
    expect(all.at(-1)?.event).toBe("error");
    expect(all.at(-1)?.data).toMatchObject({ code: "upstream_error", usage: { estimated: true } });
  });

  it("replays an idempotent retry instead of billing it again", async () => {
    const { token } = await guestToken();
    const first = await (
      await ask(token, { prompt: "once", model: "groq/gpt-oss-20b" }, { "Idempotency-Key": "k-1" })
    ).json();
    const again = await (
      await ask(token, { prompt: "once", model: "groq/gpt-oss-20b" }, { "Idempotency-Key": "k-1" })
    ).json();
    expect(again).toEqual(first);
    await expectLedgerBalance(token, 4.99976);
  });

  it("402s a call the balance cannot cover, and 503s when no provider answers", async () => {
    const { token } = await guestToken();
    await expectProblem(
      await ask(token, { prompt: "big", model: "openai/gpt-4o", max_tokens: 16_000 }),
      402,
      "insufficient_credits",
    );
    await expectProblem(await ask(token, { prompt: "[down]" }), 503, "upstream_unavailable");
  });

  it("counts asks against the per-minute limit once each, and 429s past it with the limit headers", async () => {
    const { token, sub } = await guestToken();
    const set = await gateway(`/api/admin/limits/${encodeURIComponent(sub)}`, {
      method: "PUT",
      headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ rpm: 3 }),
    });
    expect(set.status).toBe(200);
    const first = await ask(token, { prompt: "one", model: "groq/gpt-oss-20b" });
    expect(first.status).toBe(200);
    expect(first.headers.get("X-Limit-Requests-Limit")).toBe("3");
    expect(first.headers.get("X-Limit-Requests-Remaining")).toBe("2");
    expect((await ask(token, { prompt: "two", model: "groq/gpt-oss-20b" })).status).toBe(200);
    // Streams are counted the same way.
    const third = await ask(token, { prompt: "three", model: "groq/gpt-oss-20b", stream: true });
    expect(third.status).toBe(200);
    await third.text();
    const refused = await ask(token, { prompt: "four", model: "groq/gpt-oss-20b" });
    const problem = await expectProblem(refused, 429, "rate_limited");
    expect(problem.limit).toBe("rpm");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.headers.get("X-Limit-Requests-Remaining")).toBe("0");
    expect(refused.headers.get("RateLimit")).toMatch(/^"rpm";r=0;t=\d+$/);
    // The chat-completions route shares the same limit.
    const chat = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "groq/gpt-oss-20b", messages: [{ role: "user", content: "five" }] }),
    });
    expect(chat.status).toBe(429);
  });

  it("refuses bad input and anonymous callers", async () => {
    const { token } = await guestToken();
    await expectProblem(await ask(token, { prompt: "x" }, { "Idempotency-Key": "has space" }), 400, "invalid_input");
    await expectProblem(await ask(token, { prompt: "a", messages: [] }), 400, "invalid_input");
    await expectProblem(
      await gateway("/api/si/ask", { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{" }),
      400,
      "malformed_json",
    );
    await expectProblem(
      await gateway("/api/si/ask", { method: "POST", body: JSON.stringify({ prompt: "hi" }) }),
      401,
      "unauthenticated",
    );
  });
});

describe("providers", () => {
  it("GET /api/ai/binding says which providers are configured", async () => {
    const body = (await (await gateway("/api/ai/binding")).json()) as {
      providers: { id: string; configured: boolean; reason?: string }[];
    };
    expect(body.providers.find((p) => p.id === "groq")).toMatchObject({ configured: true });
    expect(body.providers.find((p) => p.id === "workers-ai")).toMatchObject({
      configured: false,
      reason: "no AI binding",
    });
  });

  it("POST /api/ai/test calls each configured provider once (admin only)", async () => {
    await expectProblem(await gateway("/api/ai/test", { method: "POST" }), 401, "unauthenticated");
    const body = (await (
      await gateway("/api/ai/test", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } })
    ).json()) as { results: { provider: string; ok: boolean; ms?: number }[] };
    expect(body.results.find((r) => r.provider === "groq")).toMatchObject({ ok: true });
    expect(body.results.find((r) => r.provider === "openai")).toMatchObject({ ok: true });
    expect(body.results.find((r) => r.provider === "workers-ai")).toMatchObject({ ok: false });
  });
});

describe("OpenAI-compatible API with the official openai client", () => {
  it("lists models and completes a chat, billed like any ask", async () => {
    const { token } = await guestToken();
    const client = openai(token);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain("groq/gpt-oss-20b");
    const completion = await client.chat.completions.create({
      model: "groq/gpt-oss-20b",
      messages: [{ role: "user", content: "hi from sdk" }],
      max_tokens: 50,
    });
    expect(completion.choices[0]?.message.content).toBe("Echo: hi from sdk");
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
    await expectLedgerBalance(token, 4.99976);
  });

  it("streams chunks with a usage chunk when asked", async () => {
    const { token } = await guestToken();
    const stream = await openai(token).chat.completions.create({
      model: "groq/gpt-oss-20b",
      messages: [{ role: "user", content: "stream sdk" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Echo: stream sdk");
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5 });
  });

  it("surfaces errors the SDK understands", async () => {
    const { token } = await guestToken();
    const client = openai(token);
    await expect(
      client.chat.completions.create({ model: "no/such-model", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      openai("not-a-token").chat.completions.create({ model: "auto", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({ status: 401 });
    const raw = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "x" }], tools: [{}] }),
    });
    const problem = await expectProblem(raw, 400, "invalid_input");
    expect(problem.error).toMatchObject({ type: "invalid_input", code: "invalid_input" });
  });
});
