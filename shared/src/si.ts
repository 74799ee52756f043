import * as v from "valibot";
import { MODEL_ID_MAX_LENGTH } from "./usage";

/** How the router ranks candidate models. */
export const ROUTING_POLICIES = ["cheapest", "fastest", "balanced"] as const;
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number];

/** Where a model runs. */
export const PROVIDERS = ["workers-ai", "groq", "openai"] as const;
export type ProviderId = (typeof PROVIDERS)[number];

/** Quality/price band a skill asks for when no model is pinned. */
export const TIERS = ["small", "medium", "large"] as const;
export type Tier = (typeof TIERS)[number];

/** Largest prompt accepted, in characters (the JSON body cap bounds it too). */
export const MAX_PROMPT_CHARS = 200_000;
/** Largest `max_tokens` a caller may ask for. */
export const MAX_OUTPUT_TOKENS = 16_384;

export const ChatMessage = v.strictObject({
  role: v.picklist(["system", "user", "assistant"], "role must be system, user or assistant"),
  content: v.pipe(v.string("content must be a string"), v.maxLength(MAX_PROMPT_CHARS)),
});
export type ChatMessage = v.InferOutput<typeof ChatMessage>;

/** Body of `POST /api/si/ask`: a `prompt` or `messages` (not both). */
export const AskRequest = v.pipe(
  v.strictObject({
    prompt: v.optional(v.pipe(v.string(), v.minLength(1, "prompt must not be empty"), v.maxLength(MAX_PROMPT_CHARS))),
    messages: v.optional(v.pipe(v.array(ChatMessage), v.minLength(1, "messages must not be empty"), v.maxLength(256))),
    skill: v.optional(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,63}$/, "skill must be a skill name"))),
    model: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MODEL_ID_MAX_LENGTH))),
    policy: v.optional(v.picklist(ROUTING_POLICIES, "policy must be cheapest, fastest or balanced")),
    max_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_OUTPUT_TOKENS))),
    temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(2))),
    stream: v.optional(v.boolean()),
    /** Ground the answer on the caller's documents: the top `k` chunks go in as cited context. */
    rag: v.optional(
      v.strictObject({ k: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(20)), 4) }),
    ),
  }),
  v.check((body) => (body.prompt === undefined) !== (body.messages === undefined), "send either prompt or messages"),
);
export type AskRequest = v.InferOutput<typeof AskRequest>;

/** Token counts of one answer; `estimated` when the provider reported none. */
export interface TokenUsage {
  tokens_in: number;
  tokens_out: number;
  estimated: boolean;
}

/** One provider+model the router tried, and how it went. */
export interface RouteAttempt {
  provider: ProviderId;
  model: string;
  outcome:
    | "ok"
    | "rate_limited"
    | "server_error"
    | "timeout"
    | "connection_error"
    | "rejected"
    | "skipped_circuit_open"
    | "skipped_insufficient_credits";
  status?: number;
  ms?: number;
}

/** Why the answer came from where it did. */
export interface RouteInfo {
  policy: RoutingPolicy | "pinned";
  reason: string;
  attempts: RouteAttempt[];
}

/** A cheaper or faster alternative the advisor found. */
export interface AdviceAlternative {
  model: string;
  provider: ProviderId;
  estimated_credits: number;
  estimated_saving_credits: number;
  estimated_saving_percent: number;
  estimated_latency_ms?: number;
}

/** Advice attached to an answer that crossed a cost or latency threshold. */
export interface Advice {
  reason: "cost" | "latency";
  message: string;
  alternatives: AdviceAlternative[];
}

/** Answer of a non-streaming ask. */
export interface AskResult {
  output: string;
  /** Parsed output when the skill has an output schema (a JSON object). */
  data?: object;
  usage: TokenUsage;
  credits_used: number;
  balance: number;
  provider: ProviderId;
  model: string;
  route: RouteInfo;
  advice?: Advice;
  /** With `rag`: the chunks the answer was given, and the ones it cites. */
  sources?: { doc_id: string; chunk_id: string; score: number }[];
  citations?: string[];
  request_id: string;
}

/** When the advisor advises: a served call strictly above either threshold. */
export interface AdviceThresholds {
  cost_micro: number;
  latency_ms: number;
}

/** What the advisor is told about one served call and the models it could have used. */
export interface AdviceRequest {
  served: {
    model: string;
    provider: ProviderId;
    tier: Tier;
    tokens_in: number;
    tokens_out: number;
    cost_micro: number;
    latency_ms: number;
  };
  alternatives: {
    model: string;
    provider: ProviderId;
    tier: Tier;
    /** Micro-credits per one million tokens. */
    price_in_per_m: number;
    price_out_per_m: number;
    /** Observed latency (EWMA), when known. */
    latency_ms?: number;
  }[];
}
