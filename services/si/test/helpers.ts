import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { AskResult, Identity } from "@cognomega/shared";
import { afterEach, beforeEach, vi } from "vitest";
import { GROQ_SMALL, OPENAI_NANO } from "../../../test-support/catalog";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { env } from "../../../test-support/mesh-env";
import { type JsonAnswer, SiService, type StreamedAnswer } from "../src/index";

export const call = { requestId: "si-test-request" };
export const admin: Identity = { sub: "admin", source: "admin", admin: true };

/** The service as its own entrypoint; `overrides` replace bindings (an AI double, settings). */
export function si(overrides: Partial<SiEnv> = {}): { service: SiService; done: () => Promise<void> } {
  const ctx = createExecutionContext();
  return { service: new SiService(ctx, { ...env, ...overrides }), done: () => waitOnExecutionContext(ctx) };
}

/** A new guest account with its 5 starter credits, through the real billing worker. */
export async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

export async function balanceOf(identity: Identity): Promise<{ balance: number; reserved: number }> {
  return env.BILLING.balance(identity, call);
}

/** A request a fake provider received. */
export interface SeenRequest {
  url: string;
  provider: "groq" | "openai";
  headers: Headers;
  body: Record<string, unknown>;
  signal: AbortSignal | null | undefined;
}

/**
 * Fakes the OpenAI-compatible providers at their HTTP edge: every fetch to groq.test or
 * openai.test goes to `handler`; anything else fails the test.
 */
export function fakeProviders(handler: (request: SeenRequest, index: number) => Response | Promise<Response>) {
  const seen: SeenRequest[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const host = new URL(url).host;
    if (host !== "groq.test" && host !== "openai.test") throw new Error(`unexpected fetch to ${url}`);
    const request: SeenRequest = {
      url,
      provider: host === "groq.test" ? "groq" : "openai",
      headers: new Headers(init?.headers),
      body: JSON.parse(String(init?.body)),
      signal: init?.signal,
    };
    seen.push(request);
    return handler(request, seen.length - 1);
  });
  return { seen, spy };
}

/** A non-streaming chat completion answer. */
export function completion(
  text: string,
  usage?: { prompt_tokens: number; completion_tokens: number },
  finish = "stop",
): Response {
  return Response.json({
    id: "chatcmpl-fake",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }],
    ...(usage ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } } : {}),
  });
}

/** An OpenAI-style error answer. */
export function failure(
  status: number,
  headers: Record<string, string> = {},
  error: Record<string, string> = { message: "fake failure" },
): Response {
  return Response.json({ error }, { status, headers });
}

/** A streaming answer: text deltas, then (optionally) a usage chunk and [DONE]. */
export function streamOf(
  deltas: string[],
  options: { usage?: { prompt_tokens: number; completion_tokens: number }; cut?: boolean } = {},
): Response {
  const encoder = new TextEncoder();
  const chunks = deltas.map(
    (delta) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: delta }, finish_reason: null }], usage: null })}\n\n`,
  );
  if (!options.cut) {
    chunks.push(
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null })}\n\n`,
    );
    if (options.usage) chunks.push(`data: ${JSON.stringify({ choices: [], usage: options.usage })}\n\n`);
    chunks.push("data: [DONE]\n\n");
  }
  // Pull-based, one chunk per read: a cut arrives after the deltas were delivered, as on a real socket.
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next !== undefined) controller.enqueue(encoder.encode(next));
      else if (options.cut) controller.error(new Error("connection reset"));
      else controller.close();
    },
  });
  return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
}

export { readEvents } from "../../../test-support/sse-events";

/** A promise that rejects when the signal aborts: a provider that never answers. */
export function hang(signal: AbortSignal | null | undefined): Promise<Response> {
  return new Promise((_, reject) =>
    signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
  );
}

/** The JSON body of an answer that must not be a stream. */
export function body(answer: JsonAnswer<AskResult> | StreamedAnswer): AskResult {
  if ("stream" in answer) throw new Error("expected a JSON answer");
  return answer.body;
}

/** Two small models, Groq the cheaper: routing tests know which comes first. */
export const TWO_MODELS = [GROQ_SMALL, OPENAI_NANO];

/** Within a describe block: the catalog is TWO_MODELS for each test, the default again after it. */
export function useTwoModels(): void {
  beforeEach(async () => {
    await si().service.setCatalog(TWO_MODELS, admin, call);
  });
  afterEach(async () => {
    await si().service.resetCatalog(admin, call);
  });
}

/** Reads a stream's SSE text until `count` token events have come, then leaves (cancels it). */
export async function readTokensThenLeave(stream: ReadableStream<Uint8Array>, count: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while ((text.match(/event: token/g) ?? []).length < count) {
    const next = await reader.read();
    if (next.done) throw new Error("the stream ended early");
    text += decoder.decode(next.value);
  }
  await reader.cancel();
  return text;
}
