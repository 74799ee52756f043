import type { ChatMessage, ProviderId } from "@cognomega/shared";
import type { CatalogModel } from "../catalog";

/** One call to a provider. */
export interface ProviderRequest {
  model: CatalogModel;
  messages: ChatMessage[];
  maxTokens: number;
  temperature?: number;
  signal: AbortSignal;
}

/** Token counts as the provider reported them. */
export interface ProviderUsage {
  tokensIn: number;
  tokensOut: number;
}

export interface ProviderReply {
  text: string;
  usage?: ProviderUsage;
  finishReason?: string;
}

/** What a provider stream yields: text deltas, and usage when the provider sends it. */
export type StreamPiece = { text: string } | { usage: ProviderUsage } | { finishReason: string };

/**
 * How a provider call failed, which decides what the router does next:
 * - `rate_limited`, `server_error`, `timeout`, `connection_error`: retry (with backoff), then fall back;
 * - `rejected`: this provider will not serve this call (bad key, no quota, model gone): fall back;
 * - `client_error`: the request itself is bad (e.g. too long): no other provider will do better;
 * - `unavailable`: the provider is not usable here (no key, no binding, offline).
 */
export type FailureKind =
  | "rate_limited"
  | "server_error"
  | "timeout"
  | "connection_error"
  | "rejected"
  | "client_error"
  | "unavailable";

export class ProviderFailure extends Error {
  override readonly name = "ProviderFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** A provider adapter. `configured` says whether it has what it needs (key or binding). */
export interface Provider {
  readonly id: ProviderId;
  configured(): { ok: true } | { ok: false; reason: string };
  complete(request: ProviderRequest): Promise<ProviderReply>;
  /** Resolves once the provider has accepted the call; pieces then arrive as they stream. */
  stream(request: ProviderRequest): Promise<AsyncIterable<StreamPiece>>;
}
