import type { ChatMessage, ProviderId } from "@cognomega/shared";

export { type FailureKind, ProviderFailure } from "@cognomega/shared";

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

/** A provider adapter. `configured` says whether it has what it needs (key or binding). */
export interface Provider {
  readonly id: ProviderId;
  configured(): { ok: true } | { ok: false; reason: string };
  complete(request: ProviderRequest): Promise<ProviderReply>;
  /** Resolves once the provider has accepted the call; pieces then arrive as they stream. */
  stream(request: ProviderRequest): Promise<AsyncIterable<StreamPiece>>;
}
