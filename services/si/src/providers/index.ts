import type { ProviderId } from "@cognomega/shared";
import { OpenAiCompatibleProvider } from "./openai-compatible";
import type { Provider } from "./types";
import { WorkersAiProvider } from "./workers-ai";

/** Every provider, built from this worker's env (keys, base URLs, the AI binding). */
export function providers(env: SiEnv): Record<ProviderId, Provider> {
  return {
    "workers-ai": new WorkersAiProvider(env.AI),
    groq: new OpenAiCompatibleProvider({
      id: "groq",
      baseUrl: env.GROQ_BASE_URL || "https://api.groq.com/openai/v1",
      apiKey: env.GROQ_API_KEY || undefined,
      maxTokensField: "max_tokens",
    }),
    openai: new OpenAiCompatibleProvider({
      id: "openai",
      baseUrl: env.OPENAI_BASE_URL || "https://api.openai.com/v1",
      apiKey: env.OPENAI_API_KEY || undefined,
      maxTokensField: "max_completion_tokens",
    }),
  };
}

export type { Provider, ProviderReply, ProviderRequest, ProviderUsage, StreamPiece } from "./types";
export { ProviderFailure } from "./types";
