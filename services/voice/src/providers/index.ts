import type { VoiceProviderId } from "@cognomega/shared";
import type { VoiceSettings } from "../config";
import { cartesiaProvider } from "./cartesia";
import type { VoiceProvider } from "./types";
import { workersAiProvider } from "./workers-ai";

export type { HeardText, SpeakCall, SpokenAudio, TranscribeCall, VoiceProvider } from "./types";

/** Every speech provider, built from the worker's bindings and settings (one without a key or binding reports itself unconfigured). */
export function voiceProviders(env: VoiceEnv, settings: VoiceSettings): Record<VoiceProviderId, VoiceProvider> {
  return {
    cartesia: cartesiaProvider(settings.cartesia),
    // Typed as always present, but offline (and in some deploys) the binding is absent.
    "workers-ai": workersAiProvider((env as { AI?: Ai }).AI),
  };
}
