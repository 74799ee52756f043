import { type ProviderId, retryAfterMs } from "@cognomega/shared";
import { sseData } from "./sse";
import {
  type Provider,
  ProviderFailure,
  type ProviderReply,
  type ProviderRequest,
  type ProviderUsage,
  type StreamPiece,
} from "./types";

/** How one OpenAI-compatible API differs from the others. */
export interface OpenAiCompatibleOptions {
  id: ProviderId;
  baseUrl: string;
  apiKey: string | undefined;
  /** OpenAI's reasoning models refuse `max_tokens`; Groq and self-hosted servers take it. */
  maxTokensField: "max_tokens" | "max_completion_tokens";
}

interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

function usageOf(raw: ChatUsage | null | undefined): ProviderUsage | undefined {
  if (!raw || typeof raw.prompt_tokens !== "number" || typeof raw.completion_tokens !== "number") return undefined;
  return { tokensIn: raw.prompt_tokens, tokensOut: raw.completion_tokens };
}

async function failureFrom(response: Response, id: ProviderId): Promise<ProviderFailure> {
  let message = `${id} answered ${response.status}`;
  let type: string | undefined;
  let code: string | undefined;
  try {
    const body = (await response.json()) as { error?: { message?: string; type?: string; code?: string } };
    if (body.error?.message) message = `${id}: ${body.error.message.slice(0, 300)}`;
    type = body.error?.type;
    code = body.error?.code;
  } catch {
    // not JSON: keep the status line
  }
  const status = response.status;
  // A 429 for an exhausted quota will not clear by waiting.
  if (status === 429 && (type === "insufficient_quota" || code === "insufficient_quota"))
    return new ProviderFailure("rejected", message, status);
  if (status === 429) return new ProviderFailure("rate_limited", message, status, retryAfterMs(response.headers));
  if (status === 408) return new ProviderFailure("timeout", message, status);
  if (status >= 500) return new ProviderFailure("server_error", message, status, retryAfterMs(response.headers));
  if (status === 400 || status === 422) return new ProviderFailure("client_error", message, status);
  // 401/403 (key), 404 (model gone), 413 (over this provider's size limit): another may serve it.
  return new ProviderFailure("rejected", message, status);
}

/** Workers, Groq, OpenAI, vLLM, Ollama, llama.cpp: one client for every OpenAI-compatible API. */
export class OpenAiCompatibleProvider implements Provider {
  readonly id: ProviderId;

  constructor(private readonly options: OpenAiCompatibleOptions) {
    this.id = options.id;
  }

  configured(): { ok: true } | { ok: false; reason: string } {
    if (!this.options.apiKey) return { ok: false, reason: `no ${this.id.toUpperCase()}_API_KEY configured` };
    try {
      new URL(this.options.baseUrl);
    } catch {
      return { ok: false, reason: `${this.id.toUpperCase()}_BASE_URL is not a URL` };
    }
    return { ok: true };
  }

  private async post(request: ProviderRequest, stream: boolean): Promise<Response> {
    const body: Record<string, unknown> = {
      model: request.model.providerModel,
      messages: request.messages,
      [this.options.maxTokensField]: request.maxTokens,
      stream,
    };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    // Streams report usage only when asked to.
    if (stream) body.stream_options = { include_usage: true };
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${this.options.apiKey}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: request.signal,
      });
    } catch (error) {
      if (request.signal.aborted) throw new ProviderFailure("timeout", `${this.id} did not answer in time`);
      throw new ProviderFailure(
        "connection_error",
        `${this.id} could not be reached: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!response.ok) throw await failureFrom(response, this.id);
    return response;
  }

  async complete(request: ProviderRequest): Promise<ProviderReply> {
    const response = await this.post(request, false);
    let body: { choices?: { message?: { content?: string | null }; finish_reason?: string }[]; usage?: ChatUsage };
    try {
      body = await response.json();
    } catch {
      if (request.signal.aborted) throw new ProviderFailure("timeout", `${this.id} did not finish in time`);
      throw new ProviderFailure("server_error", `${this.id} sent a body that is not JSON`, response.status);
    }
    const choice = body.choices?.[0];
    const content = choice?.message?.content;
    const usage = usageOf(body.usage);
    // A 200 that reports usage or a finish reason is a call the provider ran and bills, text or not
    // (a refusal, a content filter, a reasoning model that spent max_tokens thinking): it is the
    // answer, empty, as OpenAI itself returns it. Retrying it elsewhere would pay again for the
    // same prompt, likely to end the same way; `finish_reason` tells the client why.
    if (typeof content !== "string" && !usage && !choice?.finish_reason) {
      throw new ProviderFailure("server_error", `${this.id} sent no message`, response.status);
    }
    const reply: ProviderReply = { text: typeof content === "string" ? content : "" };
    if (usage) reply.usage = usage;
    if (choice?.finish_reason) reply.finishReason = choice.finish_reason;
    return reply;
  }

  async stream(request: ProviderRequest): Promise<AsyncIterable<StreamPiece>> {
    const response = await this.post(request, true);
    if (!response.body) throw new ProviderFailure("server_error", `${this.id} sent no stream`, response.status);
    const id = this.id;
    const body = response.body;
    return (async function* pieces(): AsyncGenerator<StreamPiece> {
      let finished = false;
      try {
        for await (const data of sseData(body)) {
          if (data === "[DONE]") return;
          let chunk: {
            choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
            usage?: ChatUsage | null;
            x_groq?: { usage?: ChatUsage };
            error?: { message?: string };
          };
          try {
            chunk = JSON.parse(data);
          } catch {
            continue; // a keep-alive or a line we do not understand
          }
          if (chunk.error)
            throw new ProviderFailure("server_error", `${id} stream failed: ${chunk.error.message ?? "error event"}`);
          const choice = chunk.choices?.[0];
          const text = choice?.delta?.content;
          if (typeof text === "string" && text.length > 0) yield { text };
          if (choice?.finish_reason) {
            finished = true;
            yield { finishReason: choice.finish_reason };
          }
          const usage = usageOf(chunk.usage) ?? usageOf(chunk.x_groq?.usage);
          if (usage) yield { usage };
        }
      } catch (error) {
        if (error instanceof ProviderFailure) throw error;
        if (request.signal.aborted) throw new ProviderFailure("timeout", `${id} stream stalled`);
        throw new ProviderFailure(
          "connection_error",
          `${id} stream broke: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      // Without [DONE] or a finish reason the answer was cut off, not finished.
      if (!finished) throw new ProviderFailure("connection_error", `${id} stream ended before the answer did`);
    })();
  }
}
