import type { Advice, AskResult, CallContext, ErrorCode, ProviderId, RagResult, TokenUsage } from "@cognomega/shared";
import { microToCredits } from "@cognomega/shared";
import type { AskEvent, CallOutcome } from "./ask";
import { citationsIn } from "./grounding";

const encoder = new TextEncoder();

/** The public answer of a non-streaming ask. */
export function askResult(
  outcome: CallOutcome,
  ctx: CallContext,
  extra: { data?: unknown; schemaError?: string; advice?: Advice | null; sources?: RagResult[] },
): AskResult & { schema_error?: string } {
  const result: AskResult & { schema_error?: string } = {
    output: outcome.output,
    usage: outcome.usage,
    credits_used: microToCredits(outcome.creditsMicro),
    balance: microToCredits(outcome.balanceMicro),
    provider: outcome.model.provider,
    model: outcome.model.id,
    route: outcome.route,
    request_id: ctx.requestId,
  };
  if (typeof extra.data === "object" && extra.data !== null) result.data = extra.data;
  if (extra.schemaError !== undefined) result.schema_error = extra.schemaError;
  if (extra.advice) result.advice = extra.advice;
  if (extra.sources && extra.sources.length > 0) {
    result.sources = extra.sources.map(({ doc_id, chunk_id, score }) => ({ doc_id, chunk_id, score }));
    result.citations = citationsIn(outcome.output, extra.sources);
  }
  return result;
}

/** The billing headers of a metered answer. */
export function meterOf(result: {
  usage: TokenUsage;
  credits_used: number;
  balance: number;
  provider: ProviderId;
  model: string;
}) {
  return {
    creditsUsed: String(result.credits_used),
    creditsBalance: String(result.balance),
    tokensIn: result.usage.tokens_in,
    tokensOut: result.usage.tokens_out,
    provider: result.provider,
    model: result.model,
  };
}

function sse(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * A stored answer replayed in the stream format: its whole output as one `token` event, then the
 * `done` event a live stream would have ended with, marked `replayed`.
 */
export function replayedStreamBytes(result: AskResult): Uint8Array[] {
  const { output: _output, ...rest } = result;
  return [sse("token", { text: result.output }), sse("done", { ...rest, replayed: true })];
}

/**
 * Cognomega's stream format: `token` events with text deltas, then one `done` event with usage,
 * credits, balance and route, or one `error` event (with what was charged) if the provider broke off.
 */
export function askEventBytes(
  event: AskEvent,
  ctx: CallContext,
  advice?: Advice | null,
  sources?: RagResult[],
): Uint8Array {
  switch (event.type) {
    case "token":
      return sse("token", { text: event.text });
    case "done": {
      const { output: _output, ...rest } = askResult(event.outcome, ctx, {
        advice: advice ?? null,
        sources: sources ?? [],
      });
      return sse("done", rest);
    }
    case "error": {
      const { output: _output, route: _route, ...rest } = askResult(event.outcome, ctx, {});
      return sse("error", { code: event.code satisfies ErrorCode, message: event.message, ...rest });
    }
  }
}

/** The last event of a stream that failed inside Cognomega (not at the provider). */
export function askFailureBytes(message: string, ctx: CallContext): Uint8Array[] {
  return [
    sse("error", {
      code: "internal",
      message: `the stream failed: ${message.slice(0, 300)}`,
      request_id: ctx.requestId,
    }),
  ];
}
