import { AppGraph, type AskResult } from "@cognomega/shared";
import * as v from "valibot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { routerState } from "../src/router";
import { APP_GRAPH_EXAMPLE } from "../src/skills";
import {
  balanceOf,
  body,
  call,
  completion,
  failure,
  fakeProviders,
  guest,
  hang,
  readEvents,
  si,
  streamOf,
  useTwoModels,
} from "./helpers";

beforeEach(() => routerState.reset());
afterEach(() => vi.restoreAllMocks());

describe("a billed ask", () => {
  it("answers from the pinned model and charges the provider's token counts exactly", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("Paris.", { prompt_tokens: 100, completion_tokens: 50 }));
    const { service, done } = si();
    const answer = await service.ask(
      { prompt: "Capital of France?", model: "groq/gpt-oss-20b", max_tokens: 64 },
      user,
      null,
      call,
    );
    await done();
    const result = body(answer);
    // 100 in × 7.5 + 50 out × 30 micro-credits = 2,250 micro-credits.
    expect(result).toMatchObject({
      output: "Paris.",
      usage: { tokens_in: 100, tokens_out: 50, estimated: false },
      credits_used: 0.00225,
      balance: 4.99775,
      provider: "groq",
      model: "groq/gpt-oss-20b",
      route: { policy: "pinned", reason: "pinned to groq/gpt-oss-20b" },
      request_id: call.requestId,
    });
    expect("meter" in answer && answer.meter).toEqual({
      creditsUsed: "0.00225",
      creditsBalance: "4.99775",
      tokensIn: 100,
      tokensOut: 50,
      provider: "groq",
      model: "groq/gpt-oss-20b",
    });
    expect(await balanceOf(user)).toMatchObject({ balance: 4.99775, reserved: 0 });
    // What went over the wire: Groq's name for the model, max_tokens, the system prompt first.
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe("https://groq.test/openai/v1/chat/completions");
    expect(seen[0]?.headers.get("Authorization")).toBe("Bearer test-groq-key");
    expect(seen[0]?.body).toMatchObject({ model: "openai/gpt-oss-20b", max_tokens: 64, stream: false });
    expect((seen[0]!.body.messages as { role: string }[]).map((m) => m.role)).toEqual(["system", "user"]);
    // And the call is a usage event with its request id (in listings once the ledger carried it).
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, {}, call);
        expect(usage.events).toMatchObject([
          {
            request_id: call.requestId,
            tokens_in: 100,
            tokens_out: 50,
            provider: "groq",
            model: "groq/gpt-oss-20b",
            credits: 0.00225,
            source: "si",
          },
        ]);
      },
      { timeout: 5_000, interval: 100 },
    );
  });

  it("sends max_completion_tokens to OpenAI", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 1 }));
    await si().service.ask({ prompt: "hi", model: "openai/gpt-4.1-nano", max_tokens: 20 }, user, null, call);
    expect(seen[0]?.body).toMatchObject({ model: "gpt-4.1-nano", max_completion_tokens: 20 });
    expect(seen[0]?.body).not.toHaveProperty("max_tokens");
  });

  it("estimates tokens and says so when the provider reports no usage", async () => {
    const user = await guest();
    fakeProviders(() => completion("An answer without usage numbers."));
    const result = body(await si().service.ask({ prompt: "hello there", model: "groq/gpt-oss-20b" }, user, null, call));
    expect(result.usage.estimated).toBe(true);
    expect(result.usage.tokens_in).toBeGreaterThan(0);
    expect(result.usage.tokens_out).toBeGreaterThan(0);
    expect(result.credits_used).toBeGreaterThan(0);
  });

  it("402s before any provider is called when the balance cannot cover the worst case", async () => {
    const user = await guest();
    const { spy } = fakeProviders(() => completion("never"));
    // 16,384 output tokens of gpt-4o may cost 16.4 credits; the guest has 5.
    await expect(
      si().service.ask({ prompt: "write a novel", model: "openai/gpt-4o", max_tokens: 16_384 }, user, null, call),
    ).rejects.toMatchObject({
      code: "insufficient_credits",
    });
    expect(spy).not.toHaveBeenCalled();
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });

  it("never overspends under concurrent asks", async () => {
    const user = await guest();
    fakeProviders(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return completion("ok", { prompt_tokens: 10, completion_tokens: 10 });
    });
    // Each ask holds 4,000 × 1,000 micro-credits (4 credits of gpt-4o output) until it settles.
    const instances = Array.from({ length: 6 }, () => si());
    const outcomes = await Promise.all(
      instances.map(({ service }) =>
        service.ask({ prompt: "hi", model: "openai/gpt-4o", max_tokens: 4_000 }, user, null, call).then(
          () => "ok",
          (error) => error.code as string,
        ),
      ),
    );
    // Charges are written after the answers: wait for the instances' background work.
    await Promise.all(instances.map(({ done }) => done()));
    expect(outcomes.filter((o) => o === "ok").length).toBeGreaterThanOrEqual(1);
    expect(outcomes.filter((o) => o === "insufficient_credits").length).toBeGreaterThanOrEqual(1);
    const after = await balanceOf(user);
    expect(after.reserved).toBe(0);
    // Each successful ask cost 10 × 250 + 10 × 1,000 = 12,500 micro-credits.
    expect(after.balance).toBeCloseTo(5 - outcomes.filter((o) => o === "ok").length * 0.0125, 6);
  });

  it("voids every hold when no provider answers, charging nothing", async () => {
    const user = await guest();
    fakeProviders(() => failure(503));
    await expect(si().service.ask({ prompt: "hi", policy: "cheapest" }, user, null, call)).rejects.toMatchObject({
      code: "upstream_unavailable",
    });
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });
});

describe("routing and fallback", () => {
  useTwoModels();

  it("falls back at once on a 429 whose Retry-After exceeds the budget", async () => {
    const user = await guest();
    const { seen } = fakeProviders((request) =>
      request.provider === "groq"
        ? failure(429, { "retry-after": "60" })
        : completion("from openai", { prompt_tokens: 5, completion_tokens: 3 }),
    );
    const started = Date.now();
    const result = body(await si().service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 16 }, user, null, call));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.provider).toBe("openai");
    expect(seen.filter((r) => r.provider === "groq")).toHaveLength(1);
    expect(result.route.attempts[0]).toMatchObject({ provider: "groq", outcome: "rate_limited", status: 429 });
    expect(result.route.reason).toContain("fell back to");
  });

  it("honours a short Retry-After and retries the same model", async () => {
    const user = await guest();
    const { seen } = fakeProviders((_request, index) =>
      index === 0
        ? failure(429, { "retry-after-ms": "40" })
        : completion("second time", { prompt_tokens: 5, completion_tokens: 2 }),
    );
    const result = body(await si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b" }, user, null, call));
    expect(result.output).toBe("second time");
    expect(seen).toHaveLength(2);
    expect(result.route.attempts.map((a) => a.outcome)).toEqual(["rate_limited", "ok"]);
  });

  it("retries a 500 once with backoff, then falls back", async () => {
    const user = await guest();
    const { seen } = fakeProviders((request) =>
      request.provider === "groq" ? failure(500) : completion("rescued", { prompt_tokens: 5, completion_tokens: 1 }),
    );
    const result = body(await si().service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 16 }, user, null, call));
    expect(result.output).toBe("rescued");
    expect(seen.filter((r) => r.provider === "groq")).toHaveLength(2);
    expect(result.route.attempts.map((a) => `${a.provider}:${a.outcome}`)).toEqual([
      "groq:server_error",
      "groq:server_error",
      "openai:ok",
    ]);
  });

  it("times out a silent provider and falls back", async () => {
    const user = await guest();
    fakeProviders((request) =>
      request.provider === "groq"
        ? hang(request.signal)
        : completion("in time", { prompt_tokens: 5, completion_tokens: 2 }),
    );
    const { service } = si({ SI_ATTEMPT_TIMEOUT_MS: "100" });
    const result = body(await service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 16 }, user, null, call));
    expect(result.output).toBe("in time");
    expect(result.route.attempts.filter((a) => a.outcome === "timeout").length).toBeGreaterThanOrEqual(1);
  });

  it("falls back on a connection error", async () => {
    const user = await guest();
    fakeProviders((request) => {
      if (request.provider === "groq") throw new TypeError("fetch failed");
      return completion("via openai", { prompt_tokens: 5, completion_tokens: 2 });
    });
    const result = body(await si().service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 16 }, user, null, call));
    expect(result.route.attempts.some((a) => a.outcome === "connection_error")).toBe(true);
    expect(result.provider).toBe("openai");
  });

  it("opens a circuit after repeated failures and skips the model without calling it", async () => {
    const user = await guest();
    const { seen } = fakeProviders((request) =>
      request.provider === "groq" ? failure(503) : completion("ok", { prompt_tokens: 5, completion_tokens: 1 }),
    );
    const ask = () => si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b" }, user, null, call);
    await expect(ask()).rejects.toMatchObject({ code: "upstream_unavailable" }); // 2 failures (call + retry)
    await expect(ask()).rejects.toMatchObject({ code: "upstream_unavailable" }); // 3rd failure opens it
    const before = seen.length;
    const error = await ask().catch((e) => e);
    expect(seen.length).toBe(before);
    expect(error.details.attempts).toEqual([
      { provider: "groq", model: "groq/gpt-oss-20b", outcome: "skipped_circuit_open" },
    ]);
    const status = await si().service.providerStatus(call);
    expect(status.providers.find((p) => p.id === "groq")?.circuits["groq/gpt-oss-20b"]).toBe("open");
  });

  it("ranks by policy: cheapest, and fastest by observed latency", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("ok", { prompt_tokens: 5, completion_tokens: 1 }));
    const cheap = body(await si().service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 16 }, user, null, call));
    expect(cheap.model).toBe("groq/gpt-oss-20b");
    // Make OpenAI's small model look much faster than Groq.
    routerState.recordSuccess("openai/gpt-4.1-nano", 20);
    routerState.recordSuccess("groq/gpt-oss-20b", 2_000);
    const fast = body(await si().service.ask({ prompt: "hi", policy: "fastest", max_tokens: 16 }, user, null, call));
    expect(fast.model).toBe("openai/gpt-4.1-nano");
    expect(seen).toHaveLength(2);
  });
});

describe("streaming", () => {
  useTwoModels();

  it("streams tokens, then a final event with exact usage and credits, and asks for usage", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() =>
      streamOf(["Hel", "lo", "!"], { usage: { prompt_tokens: 40, completion_tokens: 3 } }),
    );
    const answer = await si().service.ask(
      { prompt: "greet me", model: "groq/gpt-oss-20b", stream: true },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    expect(answer.meter).toEqual({ provider: "groq", model: "groq/gpt-oss-20b" });
    const events = await readEvents(answer.stream);
    expect(events.filter((e) => e.event === "token").map((e) => e.data.text)).toEqual(["Hel", "lo", "!"]);
    const final = events.at(-1);
    // 40 × 7.5 + 3 × 30 = 390 micro-credits.
    expect(final).toMatchObject({
      event: "done",
      data: {
        usage: { tokens_in: 40, tokens_out: 3, estimated: false },
        credits_used: 0.00039,
        balance: 4.99961,
        provider: "groq",
      },
    });
    expect(seen[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(await balanceOf(user)).toMatchObject({ balance: 4.99961, reserved: 0 });
  });

  it("ends a stream cut mid-way with an error event and charges only what was delivered", async () => {
    const user = await guest();
    fakeProviders(() => streamOf(["The answer ", "is "], { cut: true }));
    const answer = await si().service.ask(
      { prompt: "tell me", model: "groq/gpt-oss-20b", stream: true, max_tokens: 1000 },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    const events = await readEvents(answer.stream);
    expect(events.map((e) => e.event)).toEqual(["token", "token", "error"]);
    const error = events.at(-1)?.data as {
      code: string;
      usage: { tokens_out: number; estimated: boolean };
      credits_used: number;
      balance: number;
    };
    expect(error.code).toBe("upstream_error");
    expect(error.usage.estimated).toBe(true);
    // Far less than the 1,000 reserved output tokens: only the delivered words.
    expect(error.usage.tokens_out).toBeLessThan(10);
    expect(error.credits_used).toBeLessThan(0.001);
    expect(await balanceOf(user)).toMatchObject({ balance: error.balance, reserved: 0 });
  });

  it("falls back before the first token when the first provider fails", async () => {
    const user = await guest();
    fakeProviders((request) =>
      request.provider === "groq"
        ? failure(429, { "retry-after": "120" })
        : streamOf(["hi"], { usage: { prompt_tokens: 3, completion_tokens: 1 } }),
    );
    const answer = await si().service.ask(
      { prompt: "x", policy: "cheapest", stream: true, max_tokens: 16 },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    expect(answer.meter.provider).toBe("openai");
    const events = await readEvents(answer.stream);
    expect(events.at(-1)?.event).toBe("done");
  });
});

describe("idempotency", () => {
  it("does not bill a retried ask twice", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("once", { prompt_tokens: 100, completion_tokens: 50 }));
    const input = { prompt: "hi", model: "groq/gpt-oss-20b" };
    const first = body(await si().service.ask(input, user, "ask-key-1", call));
    const again = body(await si().service.ask(input, user, "ask-key-1", call));
    expect(again).toEqual(first);
    expect(seen).toHaveLength(1);
    expect((await balanceOf(user)).balance).toBe(4.99775);
    await expect(si().service.ask({ ...input, prompt: "other" }, user, "ask-key-1", call)).rejects.toMatchObject({
      code: "idempotency_mismatch",
    });
  });

  it("lets a failed ask be retried under the same key", async () => {
    const user = await guest();
    let fail = true;
    fakeProviders(() =>
      fail
        ? failure(400, {}, { message: "context_length_exceeded" })
        : completion("fine", { prompt_tokens: 1, completion_tokens: 1 }),
    );
    await expect(
      si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b" }, user, "retry-key", call),
    ).rejects.toMatchObject({ code: "invalid_input" });
    fail = false;
    expect(
      body(await si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b" }, user, "retry-key", call)).output,
    ).toBe("fine");
  });
});

describe("skills", () => {
  it("validates extract-json output", async () => {
    const user = await guest();
    fakeProviders(() =>
      completion('```json\n{"name": "Ada", "year": 1843}\n```', { prompt_tokens: 30, completion_tokens: 12 }),
    );
    const result = body(
      await si().service.ask({ prompt: "Ada published her notes in 1843.", skill: "extract-json" }, user, null, call),
    );
    expect(result.data).toEqual({ name: "Ada", year: 1843 });
  });

  it("repairs invalid JSON once, billing both calls", async () => {
    const user = await guest();
    const { seen } = fakeProviders((_r, index) =>
      index === 0
        ? completion("Sure! name is Ada", { prompt_tokens: 30, completion_tokens: 5 })
        : completion('{"name":"Ada"}', { prompt_tokens: 50, completion_tokens: 6 }),
    );
    const result = body(
      await si().service.ask(
        { prompt: "Extract the name: Ada", skill: "extract-json", model: "groq/gpt-oss-20b" },
        user,
        null,
        call,
      ),
    );
    expect(result.data).toEqual({ name: "Ada" });
    expect(seen).toHaveLength(2);
    expect((seen[1]!.body.messages as { role: string }[]).map((m) => m.role)).toEqual([
      "system",
      "user",
      "assistant",
      "user",
    ]);
    expect(result.usage).toMatchObject({ tokens_in: 80, tokens_out: 11 });
    // (30 + 50) × 7.5 + (5 + 6) × 30, each call rounded up on its own: 225 + 150 + 375 + 180 = 930.
    expect(result.credits_used).toBe(0.00093);
    expect(result.route.reason).toContain("repaired once");
  });

  it("reports a schema error when the repair fails too", async () => {
    const user = await guest();
    fakeProviders(() => completion("still not json", { prompt_tokens: 10, completion_tokens: 3 }));
    const result = body(
      await si().service.ask({ prompt: "x", skill: "app-graph", model: "groq/gpt-oss-20b" }, user, null, call),
    ) as AskResult & { schema_error?: string };
    expect(result.data).toBeUndefined();
    expect(result.schema_error).toBeTruthy();
  });

  const plantGraph = (): {
    version: 1;
    name: string;
    entities: { name: string; fields: Record<string, unknown>[] }[];
    screens: Record<string, unknown>[];
    navigation: Record<string, unknown>[];
  } => ({
    version: 1,
    name: "Plant Diary",
    entities: [
      { name: "Plant", fields: [{ name: "name", type: "string", required: true, unique: true }] },
      {
        name: "Watering",
        fields: [
          { name: "plant", type: "reference", ref: "Plant", required: true },
          { name: "amount", type: "enum", values: ["sip", "soak"] },
        ],
      },
    ],
    screens: [
      { id: "plants", title: "My plants", kind: "list", entity: "Plant", components: ["list"] },
      { id: "waterings", title: "Waterings", kind: "list", entity: "Watering" },
    ],
    navigation: [{ from: "plants", to: "waterings", label: "Waterings" }],
  });

  it("produces a validated App Graph v1", async () => {
    const user = await guest();
    const graph = plantGraph();
    const { seen } = fakeProviders(() =>
      completion(JSON.stringify(graph), { prompt_tokens: 200, completion_tokens: 80 }),
    );
    const result = body(
      await si().service.ask({ prompt: "An app to track watering my plants", skill: "app-graph" }, user, null, call),
    );
    expect(result.data).toEqual(graph);
    expect(seen).toHaveLength(1);
    const system = (seen[0]!.body.messages as { role: string; content: string }[])[0]!;
    expect(system.role).toBe("system");
    expect(system.content).toContain('"version": 1');
    expect(system.content).toContain('"reference"|"image"');
    // The prompt's example is itself a valid App Graph v1 (integrity pass included).
    expect(system.content).toContain(JSON.stringify(APP_GRAPH_EXAMPLE));
    expect(v.safeParse(AppGraph, APP_GRAPH_EXAMPLE).issues).toBeUndefined();
  });

  it("repairs an App Graph that fails the integrity pass once, naming the path", async () => {
    const user = await guest();
    const broken = plantGraph();
    broken.entities[1]!.fields[0]!.ref = "Pot";
    const { seen } = fakeProviders((_r, index) =>
      completion(JSON.stringify(index === 0 ? broken : plantGraph()), { prompt_tokens: 200, completion_tokens: 80 }),
    );
    const result = body(
      await si().service.ask({ prompt: "An app to track watering my plants", skill: "app-graph" }, user, null, call),
    );
    expect(seen).toHaveLength(2);
    const repairPrompt = (seen[1]!.body.messages as { content: string }[]).at(-1)!.content;
    expect(repairPrompt).toContain('entities[1].fields[0].ref: unknown entity "Pot"');
    expect(result.data).toEqual(plantGraph());
    expect(result.route.reason).toContain("repaired once");
  });

  it("reports the integrity issue when the repaired App Graph still fails it", async () => {
    const user = await guest();
    const broken = plantGraph();
    broken.screens[1]!.entity = "Pot";
    fakeProviders(() => completion(JSON.stringify(broken), { prompt_tokens: 200, completion_tokens: 80 }));
    const result = body(
      await si().service.ask({ prompt: "plants", skill: "app-graph", model: "groq/gpt-oss-20b" }, user, null, call),
    ) as AskResult & { schema_error?: string };
    expect(result.data).toBeUndefined();
    expect(result.schema_error).toBe('screens[1].entity: unknown entity "Pot"');
  });
});

describe("Workers AI", () => {
  it("serves through the AI binding and bills its usage", async () => {
    const user = await guest();
    const runs: unknown[] = [];
    const AI = {
      run: async (model: string, inputs: unknown) => {
        runs.push({ model, inputs });
        return { response: "from workers ai", usage: { prompt_tokens: 20, completion_tokens: 100 } };
      },
    } as unknown as Ai;
    const result = body(
      await si({ AI }).service.ask(
        { prompt: "hi", model: "workers-ai/llama-3.1-8b-instruct-fp8-fast", max_tokens: 100 },
        user,
        null,
        call,
      ),
    );
    expect(result).toMatchObject({
      output: "from workers ai",
      provider: "workers-ai",
      usage: { tokens_in: 20, tokens_out: 100, estimated: false },
    });
    // 20 × 4.5 + 100 × 38.4 micro-credits = 90 + 3,840.
    expect(result.credits_used).toBe(0.00393);
    expect(runs[0]).toMatchObject({
      model: "@cf/meta/llama-3.1-8b-instruct-fp8-fast",
      inputs: { max_tokens: 100, stream: false },
    });
  });

  it("treats capacity errors as retryable and falls back", async () => {
    const user = await guest();
    const AI = {
      run: async () => Promise.reject(new Error("3040: Capacity temporarily exceeded, please try again.")),
    } as unknown as Ai;
    fakeProviders(() => completion("fallback", { prompt_tokens: 1, completion_tokens: 1 }));
    const plan = await si({ AI }).service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 8 }, user, null, call);
    const result = body(plan);
    expect(result.route.attempts.some((a) => a.provider === "workers-ai" && a.outcome === "rate_limited")).toBe(true);
    expect(result.provider).not.toBe("workers-ai");
  });

  it("reports the binding unavailable offline instead of answering", async () => {
    const user = await guest();
    fakeProviders(() => completion("fallback", { prompt_tokens: 1, completion_tokens: 1 }));
    // The real binding in this offline test run throws "needs to be run remotely".
    const result = body(await si().service.ask({ prompt: "hi", policy: "cheapest", max_tokens: 8 }, user, null, call));
    expect(result.provider).not.toBe("workers-ai");
  });
});

describe("advice", () => {
  it("suggests cheaper models when a call crosses the cost threshold", async () => {
    const user = await guest();
    fakeProviders(() => completion("expensive", { prompt_tokens: 20, completion_tokens: 1_000 }));
    // gpt-4o: 20 × 250 + 1,000 × 1,000 = 1,005,000 micro-credits = 1.005 credits > 0.01.
    const result = body(
      await si().service.ask({ prompt: "long", model: "openai/gpt-4o", max_tokens: 1_000 }, user, null, call),
    );
    expect(result.credits_used).toBe(1.005);
    expect(result.advice?.reason).toBe("cost");
    expect(result.advice?.alternatives.length).toBeGreaterThan(0);
    expect(result.advice?.alternatives[0]?.estimated_saving_credits).toBeGreaterThan(0);
    expect(result.advice?.alternatives.some((a) => a.model === "openai/gpt-4o")).toBe(false);
  });

  it("gives no advice for a cheap, fast call", async () => {
    const user = await guest();
    fakeProviders(() => completion("cheap", { prompt_tokens: 10, completion_tokens: 5 }));
    const result = body(await si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b" }, user, null, call));
    expect(result.advice).toBeUndefined();
  });
});

describe("bad input", () => {
  it("refuses what a client can get wrong, before anything is billed", async () => {
    const user = await guest();
    const { spy } = fakeProviders(() => completion("never"));
    const cases: unknown[] = [
      {},
      { prompt: "" },
      { prompt: "a", messages: [{ role: "user", content: "b" }] },
      { messages: [] },
      { messages: [{ role: "tool", content: "x" }] },
      { prompt: "a", skill: "nope" },
      { prompt: "a", model: "no/such-model" },
      { prompt: "a", policy: "random" },
      { prompt: "a", max_tokens: 0 },
      { prompt: "a", max_tokens: 100_000 },
      { prompt: "a", temperature: 3 },
      { prompt: "a", skill: "extract-json", stream: true },
      { prompt: "a", extra: 1 },
      [],
    ];
    for (const input of cases) {
      await expect(si().service.ask(input, user, null, call), JSON.stringify(input)).rejects.toMatchObject({
        code: "invalid_input",
      });
    }
    expect(spy).not.toHaveBeenCalled();
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });

  it("says a provider without credentials is not configured", async () => {
    const user = await guest();
    await expect(
      si({ GROQ_API_KEY: "" }).service.ask({ prompt: "a", model: "groq/gpt-oss-20b" }, user, null, call),
    ).rejects.toMatchObject({ code: "not_configured" });
    const status = await si({ GROQ_API_KEY: "" }).service.providerStatus(call);
    expect(status.providers.find((p) => p.id === "groq")).toMatchObject({
      configured: false,
      healthy: false,
      reason: "no GROQ_API_KEY configured",
    });
  });
});

describe("grounding on the caller's documents", () => {
  it("puts the top chunks in front of the model and reports sources and citations", async () => {
    const user = await guest();
    await env.RAG.ingest(user, { id: "garden", text: "# Watering\n\nWater tomato plants deeply twice a week." }, call);
    await env.RAG.ingest(user, { id: "kitchen", text: "# Pasta\n\nBoil salted water." }, call);
    const { seen } = fakeProviders(() =>
      completion("Twice a week [garden#0].", { prompt_tokens: 80, completion_tokens: 8 }),
    );
    const result = body(
      await si().service.ask(
        { prompt: "How often should I water tomatoes?", model: "groq/gpt-oss-20b", rag: { k: 2 } },
        user,
        null,
        call,
      ),
    );
    const system = (seen[0]!.body.messages as { role: string; content: string }[])
      .filter((m) => m.role === "system")
      .map((m) => m.content)
      .join("\n");
    expect(system).toContain("[garden#0] Water tomato plants deeply twice a week.");
    expect(result.sources?.[0]).toMatchObject({ doc_id: "garden", chunk_id: "garden#0" });
    expect(result.citations).toEqual(["garden#0"]);
  });

  it("answers without context when the caller has no matching documents", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("I do not know.", { prompt_tokens: 20, completion_tokens: 4 }));
    const result = body(
      await si().service.ask(
        { prompt: "Anything about zebras?", model: "groq/gpt-oss-20b", rag: {} },
        user,
        null,
        call,
      ),
    );
    expect(result.sources).toBeUndefined();
    expect((seen[0]!.body.messages as unknown[]).length).toBe(2);
  });
});

describe("charges that outgrow their hold", () => {
  it("charges the provider's full count when the prompt estimate was low", async () => {
    const user = await guest();
    fakeProviders(() => completion("ok", { prompt_tokens: 5_000, completion_tokens: 5 }));
    const result = body(
      await si().service.ask({ prompt: "hi", model: "groq/gpt-oss-20b", max_tokens: 8 }, user, null, call),
    );
    // 5,000 × 7.5 + 5 × 30 = 37,650 micro-credits: more than the hold, charged from the balance.
    expect(result.credits_used).toBe(0.03765);
    expect(await balanceOf(user)).toMatchObject({ balance: 4.96235, reserved: 0 });
  });

  it("keeps a paid first answer when the repair call fails", async () => {
    const user = await guest();
    fakeProviders((_request, index) =>
      index === 0 ? completion("not json", { prompt_tokens: 20, completion_tokens: 3 }) : failure(503),
    );
    const result = body(
      await si().service.ask({ prompt: "x", skill: "extract-json", model: "groq/gpt-oss-20b" }, user, null, call),
    ) as AskResult & { schema_error?: string };
    expect(result.output).toBe("not json");
    expect(result.schema_error).toContain("the repair attempt failed");
    // Only the first call: 20 × 7.5 + 3 × 30 = 240 micro-credits.
    expect(result.credits_used).toBe(0.00024);
  });

  it("cuts a stream at SI_STREAM_MAX_MS and charges what was delivered", async () => {
    const user = await guest();
    fakeProviders((request) => {
      const encoder = new TextEncoder();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent < 2) {
            sent += 1;
            controller.enqueue(
              encoder.encode(
                `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `part${sent} ` } }] })}\n\n`,
              ),
            );
            return;
          }
          // Then the provider goes quiet until it is stopped.
          await hang(request.signal).catch(() => undefined);
          controller.error(new Error("aborted"));
        },
      });
      return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
    });
    const started = Date.now();
    const answer = await si({ SI_STREAM_MAX_MS: "1000", SI_ATTEMPT_TIMEOUT_MS: "5000" }).service.ask(
      { prompt: "go", model: "groq/gpt-oss-20b", stream: true },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    const events = await readEvents(answer.stream);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(events.map((e) => e.event)).toEqual(["token", "token", "error"]);
    expect(events.at(-1)?.data).toMatchObject({ code: "upstream_error", usage: { estimated: true } });
    expect((await balanceOf(user)).reserved).toBe(0);
  });
});
