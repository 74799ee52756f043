import type { ProviderId } from "@cognomega/shared";
import { SI_SETTINGS } from "../settings";
import { OpenAiCompatibleProvider } from "./openai-compatible";
import type { Provider } from "./types";
import { WorkersAiProvider } from "./workers-ai";

/** Every provider, built from this worker's env (keys, base URLs, the AI binding). */
export function providers(env: SiEnv): Record<ProviderId, Provider> {
  const settings = SI_SETTINGS.read(env);
  return {
    "workers-ai": new WorkersAiProvider(env.AI),
    groq: new OpenAiCompatibleProvider({
      id: "groq",
      baseUrl: settings.GROQ_BASE_URL,
      apiKey: settings.GROQ_API_KEY,
      maxTokensField: "max_tokens",
    }),
    openai: new OpenAiCompatibleProvider({
      id: "openai",
      baseUrl: settings.OPENAI_BASE_URL,
      apiKey: settings.OPENAI_API_KEY,
      maxTokensField: "max_completion_tokens",
    }),
  };
}

export type { Provider, ProviderReply, ProviderRequest, ProviderUsage, StreamPiece } from "./types";
export { ProviderFailure } from "./types";
