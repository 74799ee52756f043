import { AskRequest, type Identity, MODEL_ID_MAX_LENGTH, parseInput, sha256Hex } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { routerState } from "../src/router";
import {
  admin,
  balanceOf,
  body,
  call,
  completion,
  failure,
  fakeProviders,
  guest,
  readEvents,
  readTokensThenLeave,
  si,
  streamOf,
  TWO_MODELS,
  useTwoModels,
} from "./helpers";

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** The billing worker's ledger object of an account, as far as these tests drive it directly. */
interface TestLedger {
  pruneAsOf(now: number): Promise<{ ok: boolean }>;
  beginIdempotent(
    name: string,
    key: string,
    fingerprint: string,
    now: number,
  ): Promise<{ ok: true; value: { state: string } } | { ok: false; code: string }>;
}

function ledgerOf(identity: Identity): TestLedger {
  const namespace = env.TEST_ACCOUNT_LEDGER;
  return namespace.get(namespace.idFromName(identity.sub)) as unknown as TestLedger;
}

async function settleEntries(identity: Identity) {
  const page = await env.BILLING.history(identity, { limit: "100" }, call);
  return page.entries.filter((entry) => entry.kind === "settle");
}

beforeEach(() => routerState.reset());
afterEach(() => vi.restoreAllMocks());

describe("an idempotency key past its record's retention", () => {
  it("bills a reused key as a new ask once its record has been pruned", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => completion("answer", { prompt_tokens: 100, completion_tokens: 50 }));
    const first = si();
    body(await first.service.ask({ prompt: "first", model: "groq/gpt-oss-20b" }, user, "reused-key", call));
    await first.done();
    const after = (await balanceOf(user)).balance;
    // 100 × 7.5 + 50 × 30 = 2,250 micro-credits.
    expect(after).toBe(4.99775);
    // Two days and a bit later the ledger has forgotten the key; its charge entry stays forever.
    expect((await ledgerOf(user).pruneAsOf(Date.now() + 2 * DAY_MS + MINUTE_MS)).ok).toBe(true);
    const second = si();
    const again = body(
      await second.service.ask({ prompt: "another prompt", model: "groq/gpt-oss-20b" }, user, "reused-key", call),
    );
    await second.done();
    expect(seen).toHaveLength(2);
    expect(again.credits_used).toBe(0.00225);
    expect((await balanceOf(user)).balance).toBe(4.9955);
    expect(await settleEntries(user)).toHaveLength(2);
  });
});

describe("a keyed retry served by another candidate", () => {
  useTwoModels();

  it("is charged once, whichever candidate answers it", async () => {
    const user = await guest();
    let run = 1;
    fakeProviders((request) => {
      // The cheaper model fails on the first run only.
      if (request.provider === "groq")
        return run === 1 ? failure(500) : completion("from groq", { prompt_tokens: 10, completion_tokens: 5 });
      return completion("from openai", { prompt_tokens: 10, completion_tokens: 5 });
    });
    // The first run's charge reaches the ledger, but SI never hears back (a settlement that times out).
    let losing = true;
    const billing = new Proxy(env.BILLING, {
      get(target, property) {
        if (property === "settleAllowance")
          return async (...args: Parameters<typeof target.settleAllowance>) => {
            const settled = await target.settleAllowance(...args);
            if (losing) throw new Error("the settlement timed out");
            return settled;
          };
        // RPC stubs answer any property: call each method on the binding itself.
        return (...args: unknown[]) =>
          (target as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[property]?.(...args);
      },
    });
    const input = { prompt: "which one?", policy: "cheapest" as const, max_tokens: 16 };
    const first = si({ BILLING: billing });
    await expect(first.service.ask(input, user, "retry-across-candidates", call)).rejects.toMatchObject({
      code: "upstream_unavailable",
    });
    await first.done();
    losing = false;
    run = 2;
    // The retry lands on an instance that has not seen the cheaper model fail.
    routerState.reset();
    const second = si({ BILLING: billing });
    const retried = body(await second.service.ask(input, user, "retry-across-candidates", call));
    await second.done();
    expect(retried.output).toBe("from groq");
    const charges = await settleEntries(user);
    expect(charges).toHaveLength(1);
    // The one charge is the first run's: 10 × 10 + 5 × 40 = 300 micro-credits.
    expect(charges[0]?.amount).toBe(-0.0003);
    expect(await balanceOf(user)).toMatchObject({ balance: 4.9997, reserved: 0 });
    // The first run's settlement is retried on SI's backoff (about 6 s) before it gives up.
  }, 20_000);
});

// Punctuation runs are where the token estimate under-counts most against o200k.
const PUNCTUATION = "!?#%&*+-=<>|~^".repeat(300);
/** The least a hold covers of this prompt: a third of its UTF-8 bytes. */
const PADDED_TOKENS_IN = Math.ceil(new TextEncoder().encode(PUNCTUATION).length / 3);

describe("an answer without the provider's usage", () => {
  it("charges input at least at the hold's padded bound when a stream is left before done", async () => {
    const user = await guest();
    fakeProviders(() => streamOf(["a", "b", "c"]));
    const { service, done } = si();
    const answer = await service.ask(
      { prompt: PUNCTUATION, model: "groq/gpt-oss-20b", stream: true },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    // Every token is read; the client goes away before the final event.
    expect(await readTokensThenLeave(answer.stream, 3)).not.toContain("event: done");
    await done();
    const charges = await settleEntries(user);
    expect(charges).toHaveLength(1);
    // At least 7.5 micro-credits per padded input token (the output adds a little).
    expect(-(charges[0]?.amount ?? 0) * 1_000_000).toBeGreaterThanOrEqual(PADDED_TOKENS_IN * 7.5);
    expect((await balanceOf(user)).reserved).toBe(0);
  });

  it("charges input at least at the hold's padded bound when a provider reports no usage", async () => {
    const user = await guest();
    fakeProviders(() => completion("ok"));
    const { service, done } = si();
    const result = body(await service.ask({ prompt: PUNCTUATION, model: "groq/gpt-oss-20b" }, user, null, call));
    await done();
    expect(result.usage.estimated).toBe(true);
    expect(result.usage.tokens_in).toBeGreaterThanOrEqual(PADDED_TOKENS_IN);
    const charges = await settleEntries(user);
    expect(-(charges[0]?.amount ?? 0) * 1_000_000).toBeGreaterThanOrEqual(PADDED_TOKENS_IN * 7.5);
  });
});

describe("a keyed stream retried after it was cut", () => {
  it("charges the retry too: what was cut off was paid for, the new run is a new charge", async () => {
    const user = await guest();
    let run = 0;
    fakeProviders(() => {
      run += 1;
      return run === 1
        ? streamOf(["part"], { cut: true })
        : streamOf(["the ", "whole ", "answer"], { usage: { prompt_tokens: 10, completion_tokens: 300 } });
    });
    const input = { prompt: "tell me", model: "groq/gpt-oss-20b", stream: true };
    const first = si();
    const cut = await first.service.ask(input, user, "cut-stream", call);
    if (!("stream" in cut)) throw new Error("expected a stream");
    expect((await readEvents(cut.stream)).at(-1)?.event).toBe("error");
    await first.done();
    const paidForCut = (await balanceOf(user)).balance;
    const second = si();
    const whole = await second.service.ask(input, user, "cut-stream", call);
    if (!("stream" in whole)) throw new Error("expected a stream");
    expect((await readEvents(whole.stream)).at(-1)).toMatchObject({ event: "done", data: { credits_used: 0.009075 } });
    await second.done();
    // 10 × 7.5 + 300 × 30 = 9,075 micro-credits for the whole answer, on top of the cut one.
    expect(await settleEntries(user)).toHaveLength(2);
    expect((await balanceOf(user)).balance).toBeCloseTo(paidForCut - 0.009075, 6);
  });
});

describe("a keyed stream in flight", () => {
  it("cannot be taken over while it may still run, even past ten minutes", async () => {
    const user = await guest();
    let stopped = false;
    fakeProviders((request) => {
      const encoder = new TextEncoder();
      request.signal?.addEventListener("abort", () => {
        stopped = true;
      });
      // A slow provider: a piece every 50 ms until it is stopped.
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          if (request.signal?.aborted) {
            controller.error(new Error("aborted"));
            return;
          }
          controller.enqueue(
            encoder.encode(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "slow " } }] })}\n\n`),
          );
        },
      });
      return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
    });
    const input = { prompt: "a long story", model: "groq/gpt-oss-20b", stream: true };
    const { service, done } = si({ SI_STREAM_MAX_MS: "3000000" });
    const answer = await service.ask(input, user, "long-stream", call);
    if (!("stream" in answer)) throw new Error("expected a stream");
    const reader = answer.stream.getReader();
    await reader.read();
    const fingerprint = JSON.stringify(parseInput(AskRequest, input));
    const ledger = ledgerOf(user);
    // Eleven minutes on, the stream may still be running (up to SI_STREAM_MAX_MS): a retry is refused.
    const early = await ledger.beginIdempotent(user.sub, "ask:long-stream", fingerprint, Date.now() + 11 * MINUTE_MS);
    expect(early).toMatchObject({ ok: false, code: "conflict" });
    // Past the longest the stream could run, the attempt is presumed dead and may be taken over.
    const late = await ledger.beginIdempotent(user.sub, "ask:long-stream", fingerprint, Date.now() + 60 * MINUTE_MS);
    expect(late).toMatchObject({ ok: true, value: { state: "new" } });
    await reader.cancel();
    await done();
    expect(stopped).toBe(true);
  });
});

describe("catalog model ids", () => {
  it("refuses an id longer than billing accepts on a usage event", async () => {
    const long = `groq/${"m".repeat(96)}`;
    const catalog = [{ ...TWO_MODELS[0], id: long }];
    await expect(si().service.setCatalog(catalog, admin, call)).rejects.toMatchObject({ code: "invalid_input" });
    // Exactly at the shared limit it is accepted.
    const fits = [{ ...TWO_MODELS[0], id: long.slice(0, MODEL_ID_MAX_LENGTH) }];
    expect((await si().service.setCatalog(fits, admin, call)).models).toHaveLength(1);
    try {
      // ...and billing records its charges.
      const user = await guest();
      fakeProviders(() => completion("ok", { prompt_tokens: 100, completion_tokens: 50 }));
      const { service, done } = si();
      body(await service.ask({ prompt: "hi", model: fits[0]?.id }, user, "long-model-id", call));
      await done();
      expect(await settleEntries(user)).toHaveLength(1);
      expect((await balanceOf(user)).balance).toBe(4.99775);
    } finally {
      await si().service.resetCatalog(admin, call);
    }
  });
});

// 2,800 characters of punctuation: the token estimate counts them at about a quarter of a third of
// their bytes, which is what a provider may well have generated.
const SYMBOL_DELTAS = Array.from({ length: 10 }, () => "!?#%&*+-=<>|~^".repeat(20));
/** The least output these deltas are charged at without the provider's usage: a third of their bytes. */
const PADDED_TOKENS_OUT = Math.ceil(new TextEncoder().encode(SYMBOL_DELTAS.join("")).length / 3);
/** Groq's gpt-oss-20b output price: $0.30/M × 100 credits/USD = 30 micro-credits a token. */
const GROQ_OUT_MICRO = 30;

describe("output charged without the provider's usage", () => {
  it("charges a stream cut before done for at least a third of the bytes it delivered", async () => {
    const user = await guest();
    fakeProviders(() => streamOf(SYMBOL_DELTAS, { cut: true }));
    const { service, done } = si();
    const answer = await service.ask(
      { prompt: "hi", model: "groq/gpt-oss-20b", stream: true, max_tokens: 4000 },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    const last = (await readEvents(answer.stream)).at(-1);
    await done();
    expect(last?.event).toBe("error");
    const usage = last?.data.usage as { tokens_out: number; estimated: boolean };
    expect(usage.estimated).toBe(true);
    expect(usage.tokens_out).toBeGreaterThanOrEqual(PADDED_TOKENS_OUT);
    const charges = await settleEntries(user);
    expect(charges).toHaveLength(1);
    expect(-(charges[0]?.amount ?? 0) * 1_000_000).toBeGreaterThanOrEqual(PADDED_TOKENS_OUT * GROQ_OUT_MICRO);
  });

  it("charges a stream the client leaves before done the same way", async () => {
    const user = await guest();
    fakeProviders(() => streamOf(SYMBOL_DELTAS));
    const { service, done } = si();
    const answer = await service.ask(
      { prompt: "hi", model: "groq/gpt-oss-20b", stream: true, max_tokens: 4000 },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    await readTokensThenLeave(answer.stream, SYMBOL_DELTAS.length);
    await done();
    const charges = await settleEntries(user);
    expect(charges).toHaveLength(1);
    expect(-(charges[0]?.amount ?? 0) * 1_000_000).toBeGreaterThanOrEqual(PADDED_TOKENS_OUT * GROQ_OUT_MICRO);
  });

  it("never charges estimated output above the call's max_tokens", async () => {
    const user = await guest();
    fakeProviders(() => streamOf(SYMBOL_DELTAS, { cut: true }));
    const answer = await si().service.ask(
      { prompt: "hi", model: "groq/gpt-oss-20b", stream: true, max_tokens: 100 },
      user,
      null,
      call,
    );
    if (!("stream" in answer)) throw new Error("expected a stream");
    const last = (await readEvents(answer.stream)).at(-1);
    expect(last?.data.usage).toMatchObject({ tokens_out: 100, estimated: true });
  });

  it("charges a complete answer without usage for at least a third of its bytes", async () => {
    const user = await guest();
    fakeProviders(() => completion(SYMBOL_DELTAS.join("")));
    const { service, done } = si();
    const result = body(
      await service.ask({ prompt: "hi", model: "groq/gpt-oss-20b", max_tokens: 4000 }, user, null, call),
    );
    await done();
    expect(result.usage.estimated).toBe(true);
    expect(result.usage.tokens_out).toBeGreaterThanOrEqual(PADDED_TOKENS_OUT);
    const charges = await settleEntries(user);
    expect(-(charges[0]?.amount ?? 0) * 1_000_000).toBeGreaterThanOrEqual(PADDED_TOKENS_OUT * GROQ_OUT_MICRO);
  });
});

/** A 200 chat completion whose message has no content (a refusal, a filter, all of max_tokens spent thinking). */
function emptyCompletion(finish: string, usage?: { prompt_tokens: number; completion_tokens: number }): Response {
  return Response.json({
    id: "chatcmpl-fake",
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: null, refusal: "I can't help with that." },
        finish_reason: finish,
      },
    ],
    ...(usage ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } } : {}),
  });
}

describe("a 200 answer without content", () => {
  useTwoModels();

  it("is the answer the provider billed: charged its reported usage once, not retried elsewhere", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => emptyCompletion("stop", { prompt_tokens: 50_000, completion_tokens: 4000 }));
    const { service, done } = si();
    const result = body(await service.ask({ prompt: "hello", policy: "cheapest", max_tokens: 4000 }, user, null, call));
    await done();
    expect(seen).toHaveLength(1);
    expect(result).toMatchObject({
      output: "",
      model: "groq/gpt-oss-20b",
      usage: { tokens_in: 50_000, tokens_out: 4000, estimated: false },
    });
    // 50,000 × 7.5 + 4,000 × 30 = 495,000 micro-credits.
    const charges = await settleEntries(user);
    expect(charges.map((entry) => entry.amount)).toEqual([-0.495]);
  });

  it("cut at max_tokens without usage is charged all of max_tokens", async () => {
    const user = await guest();
    const { seen } = fakeProviders(() => emptyCompletion("length"));
    const { service, done } = si();
    const result = body(
      await service.ask({ prompt: "think hard", policy: "cheapest", max_tokens: 2000 }, user, null, call),
    );
    await done();
    expect(seen).toHaveLength(1);
    expect(result).toMatchObject({ output: "", usage: { tokens_out: 2000, estimated: true } });
  });
});

describe("an idempotency record's fingerprint", () => {
  it("is the SHA-256 of the canonical request, not the request", async () => {
    const user = await guest();
    fakeProviders(() => completion("ok", { prompt_tokens: 10, completion_tokens: 5 }));
    const sent: string[] = [];
    const billing = new Proxy(env.BILLING, {
      get(target, property) {
        if (property === "beginOperation")
          return (...args: Parameters<typeof target.beginOperation>) => {
            sent.push(args[2]);
            return target.beginOperation(...args);
          };
        return (...args: unknown[]) =>
          (target as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[property]?.(...args);
      },
    });
    const input = { prompt: "a request of any size", model: "groq/gpt-oss-20b", max_tokens: 16 };
    const { service, done } = si({ BILLING: billing });
    body(await service.ask(input, user, "hashed-key", call));
    await done();
    expect(sent.map((fingerprint) => fingerprint.slice(0, 80))).toEqual([
      await sha256Hex(JSON.stringify(parseInput(AskRequest, input))),
    ]);
    // The same request replays; another under the key is still refused.
    const again = si({ BILLING: billing });
    expect(body(await again.service.ask(input, user, "hashed-key", call)).output).toBe("ok");
    await expect(again.service.ask({ ...input, prompt: "y" }, user, "hashed-key", call)).rejects.toMatchObject({
      code: "idempotency_mismatch",
    });
    await again.done();
  });
});
