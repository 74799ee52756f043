import { workersAiFailure } from "@cognomega/shared";
import { sseData } from "./sse";
import {
  type Provider,
  ProviderFailure,
  type ProviderReply,
  type ProviderRequest,
  type ProviderUsage,
  type StreamPiece,
} from "./types";

interface AiOutput {
  response?: unknown;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  choices?: {
    delta?: { content?: string | null };
    message?: { content?: string | null };
    finish_reason?: string | null;
  }[];
}

function usageOf(raw: AiOutput["usage"]): ProviderUsage | undefined {
  if (!raw || typeof raw.prompt_tokens !== "number" || typeof raw.completion_tokens !== "number") return undefined;
  return { tokensIn: raw.prompt_tokens, tokensOut: raw.completion_tokens };
}

function textOf(output: AiOutput): string | undefined {
  if (typeof output.response === "string") return output.response;
  // Llama 4 may send a number; newer models answer in OpenAI's shape.
  if (typeof output.response === "number") return String(output.response);
  const choice = output.choices?.[0];
  return choice?.message?.content ?? choice?.delta?.content ?? undefined;
}

/** Workers AI through the `AI` binding. */
export class WorkersAiProvider implements Provider {
  readonly id = "workers-ai" as const;

  constructor(private readonly ai: Ai | undefined) {}

  configured(): { ok: true } | { ok: false; reason: string } {
    return this.ai ? { ok: true } : { ok: false, reason: "no AI binding" };
  }

  private async run(request: ProviderRequest, stream: boolean): Promise<unknown> {
    if (!this.ai) throw new ProviderFailure("unavailable", "no AI binding");
    const inputs: Record<string, unknown> = { messages: request.messages, max_tokens: request.maxTokens, stream };
    if (request.temperature !== undefined) inputs.temperature = request.temperature;
    const abort = new Promise<never>((_, reject) => {
      request.signal.addEventListener(
        "abort",
        () => reject(new ProviderFailure("timeout", "workers-ai did not answer in time")),
        { once: true },
      );
    });
    try {
      const run = (this.ai.run as (model: string, inputs: unknown) => Promise<unknown>)(
        request.model.providerModel,
        inputs,
      );
      return await Promise.race([run, abort]);
    } catch (error) {
      if (error instanceof ProviderFailure) throw error;
      throw workersAiFailure(error, request.signal);
    }
  }

  async complete(request: ProviderRequest): Promise<ProviderReply> {
    const output = (await this.run(request, false)) as AiOutput | string;
    const reply: ProviderReply = { text: "" };
    if (typeof output === "string") {
      reply.text = output;
      return reply;
    }
    const text = textOf(output);
    const usage = usageOf(output.usage);
    // With usage the call ran and is billed: an answer, even an empty one (as for OpenAI-compatible APIs).
    if (text === undefined && !usage) throw new ProviderFailure("server_error", "workers-ai sent no response");
    reply.text = text ?? "";
    if (usage) reply.usage = usage;
    return reply;
  }

  async stream(request: ProviderRequest): Promise<AsyncIterable<StreamPiece>> {
    const body = await this.run(request, true);
    if (!(body instanceof ReadableStream)) throw new ProviderFailure("server_error", "workers-ai sent no stream");
    return (async function* pieces(): AsyncGenerator<StreamPiece> {
      try {
        for await (const data of sseData(body as ReadableStream<Uint8Array>)) {
          if (data === "[DONE]") return;
          let chunk: AiOutput;
          try {
            chunk = JSON.parse(data);
          } catch {
            continue;
          }
          const text = textOf(chunk);
          if (text) yield { text };
          const usage = usageOf(chunk.usage);
          if (usage) yield { usage };
        }
      } catch (error) {
        throw error instanceof ProviderFailure ? error : workersAiFailure(error, request.signal);
      }
      throw new ProviderFailure("connection_error", "workers-ai stream ended before [DONE]");
    })();
  }
}
