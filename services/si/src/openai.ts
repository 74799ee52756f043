import {
  type ChatMessage,
  MAX_OUTPUT_TOKENS,
  MAX_PROMPT_CHARS,
  microToCredits,
  parseInput,
  ServiceError,
} from "@cognomega/shared";
import * as v from "valibot";
import type { AskEvent, CallOutcome } from "./ask";
import type { CatalogModel } from "./catalog";
import type { PlanInput } from "./plan";

const encoder = new TextEncoder();

const TextPart = v.object({ type: v.literal("text"), text: v.string() });
const OpenAiMessage = v.object({
  role: v.picklist(["system", "developer", "user", "assistant"], "role must be system, developer, user or assistant"),
  content: v.union(
    [v.pipe(v.string(), v.maxLength(MAX_PROMPT_CHARS)), v.array(TextPart)],
    "content must be a string or text parts",
  ),
});

// Parameters we cannot honour are refused rather than silently ignored.
const UNSUPPORTED = [
  "tools",
  "tool_choice",
  "functions",
  "function_call",
  "logprobs",
  "top_logprobs",
  "audio",
  "modalities",
  "prediction",
] as const;

/** The subset of OpenAI's Chat Completions request Cognomega serves. */
export const ChatCompletionRequest = v.pipe(
  v.looseObject({
    model: v.pipe(v.string("model is required"), v.minLength(1), v.maxLength(128)),
    messages: v.pipe(v.array(OpenAiMessage), v.minLength(1, "messages must not be empty"), v.maxLength(256)),
    max_tokens: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_OUTPUT_TOKENS)))),
    max_completion_tokens: v.optional(
      v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_OUTPUT_TOKENS))),
    ),
    temperature: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0), v.maxValue(2)))),
    stream: v.optional(v.nullable(v.boolean())),
    stream_options: v.optional(v.nullable(v.object({ include_usage: v.optional(v.boolean()) }))),
    n: v.optional(v.nullable(v.literal(1, "n must be 1"))),
    response_format: v.optional(
      v.nullable(v.object({ type: v.literal("text", "only response_format text is supported") })),
    ),
  }),
  v.check(
    (body) => UNSUPPORTED.every((key) => (body as Record<string, unknown>)[key] == null),
    `unsupported parameter: one of ${UNSUPPORTED.join(", ")}`,
  ),
);

/** Reads an OpenAI request into a plan input; `includeUsage` asks for the usage chunk on streams. */
export function fromChatCompletion(input: unknown): { plan: PlanInput; includeUsage: boolean } {
  const body = parseInput(ChatCompletionRequest, input);
  const messages: ChatMessage[] = body.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((part) => part.text).join(""),
  }));
  const plan: PlanInput = { messages, model: body.model, stream: body.stream === true };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) plan.maxTokens = maxTokens;
  if (body.temperature != null) plan.temperature = body.temperature;
  return { plan, includeUsage: body.stream_options?.include_usage === true };
}

function finishReason(outcome: CallOutcome): "stop" | "length" {
  return outcome.finishReason === "length" ? "length" : "stop";
}

function usageOf(outcome: CallOutcome) {
  return {
    prompt_tokens: outcome.usage.tokens_in,
    completion_tokens: outcome.usage.tokens_out,
    total_tokens: outcome.usage.tokens_in + outcome.usage.tokens_out,
  };
}

/** A `chat.completion` object, with Cognomega's billing facts beside OpenAI's fields. */
export function chatCompletion(outcome: CallOutcome, requestId: string, created: number) {
  return {
    id: `chatcmpl-${requestId}`,
    object: "chat.completion" as const,
    created,
    model: outcome.model.id,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content: outcome.output, refusal: null },
        logprobs: null,
        finish_reason: finishReason(outcome),
      },
    ],
    usage: usageOf(outcome),
    cognomega: {
      credits_used: microToCredits(outcome.creditsMicro),
      balance: microToCredits(outcome.balanceMicro),
      estimated: outcome.usage.estimated,
      route: outcome.route,
    },
  };
}

/** Encodes stream events as `chat.completion.chunk` SSE, ending with `[DONE]`. */
export function chunkEncoder(model: CatalogModel, requestId: string, created: number, includeUsage: boolean) {
  const base = { id: `chatcmpl-${requestId}`, object: "chat.completion.chunk", created, model: model.id };
  let first = true;
  const line = (data: unknown) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
  const failure = (message: string): Uint8Array[] => [
    line({
      error: {
        message: `the stream failed: ${message.slice(0, 300)}`,
        type: "internal",
        code: "internal",
        param: null,
      },
    }),
    encoder.encode("data: [DONE]\n\n"),
  ];
  const encode = (event: AskEvent): Uint8Array[] => {
    if (event.type === "token") {
      const delta = first ? { role: "assistant", content: event.text } : { content: event.text };
      first = false;
      return [line({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] })];
    }
    const billing = {
      credits_used: microToCredits(event.outcome.creditsMicro),
      balance: microToCredits(event.outcome.balanceMicro),
      estimated: event.outcome.usage.estimated,
    };
    if (event.type === "error") {
      // OpenAI clients surface an `error` object in the stream as an exception.
      return [
        line({
          error: { message: event.message, type: "upstream_error", code: event.code, param: null, cognomega: billing },
        }),
        encoder.encode("data: [DONE]\n\n"),
      ];
    }
    const out = [
      line({
        ...base,
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason(event.outcome) }],
        cognomega: billing,
      }),
    ];
    if (includeUsage) out.push(line({ ...base, choices: [], usage: usageOf(event.outcome) }));
    out.push(encoder.encode("data: [DONE]\n\n"));
    return out;
  };
  return Object.assign(encode, { failure });
}

/** `GET /v1/models`. */
export function modelList(models: CatalogModel[]) {
  return {
    object: "list" as const,
    data: models.map((m) => ({
      id: m.id,
      object: "model" as const,
      created: 0,
      owned_by: m.provider,
      context_window: m.contextWindow,
      tier: m.tier,
    })),
  };
}

/** Refuses a request that is not an object early, with OpenAI-friendly wording. */
export function requireObject(input: unknown): void {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    throw new ServiceError("invalid_input", "the body must be a JSON object");
}
