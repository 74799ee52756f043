import { formatCredits, microToCredits, ServiceError, type Transcript, type VoiceJsonAnswer } from "@cognomega/shared";
import type { AudioFacts } from "./audio";
import { sttCandidates, sttCostMicro } from "./catalog";
import { TRANSCRIBE_HOLD_SECONDS } from "./credits";
import type { VoiceDeps } from "./deps";
import { withFallback } from "./routing";
import { holdFor } from "./speech";
import type { TranscribeWant } from "./speech-want";

/**
 * Transcribes whole audio on the first candidate that answers. The hold is the dearest candidate's
 * price for the audio's duration bound (from its header, or its size), taken before any provider is
 * called; the settle charges the duration the provider reports (else the header's, else the bound).
 * A transcript may be empty (silence): that is an answer, charged for the audio heard. The call is
 * charged as `chargeId`.
 */
export async function transcribeAudio(
  deps: VoiceDeps,
  audio: Uint8Array,
  facts: AudioFacts,
  want: TranscribeWant,
  chargeId: string,
): Promise<VoiceJsonAnswer<Transcript>> {
  const { models } = await deps.catalog();
  const candidates = sttCandidates(models, want);
  const usable = candidates.filter((model) => deps.providers[model.provider].configured().ok);
  if (usable.length === 0)
    throw new ServiceError(
      "not_configured",
      "no speech-to-text provider is configured: set CARTESIA_API_KEY, or deploy with the AI binding",
    );
  const worst = Math.max(...usable.map((model) => sttCostMicro(model, facts.boundMs, deps.settings.creditsPerUsd)));
  const hold = await holdFor(deps, chargeId, worst, TRANSCRIBE_HOLD_SECONDS);
  const served = await withFallback(
    candidates,
    deps.providers,
    (model, provider, signal) =>
      provider.transcribe({
        model,
        audio,
        contentType: facts.contentType,
        ...(want.language !== undefined ? { language: want.language } : {}),
        signal,
      }),
    deps.routing,
  ).catch(async (error: unknown) => {
    await hold.void();
    throw error;
  });
  const heard = served.value;
  const reported = heard.durationS !== undefined && Number.isFinite(heard.durationS) && heard.durationS >= 0;
  // A provider's figure past what the audio can last is not charged: a WAV never past its hold.
  const heardMs = reported ? Math.round((heard.durationS as number) * 1000) : (facts.durationMs ?? facts.boundMs);
  const audioMs = Math.min(heardMs, facts.maxMs);
  const cost = sttCostMicro(served.model, audioMs, deps.settings.creditsPerUsd);
  const settled = await hold.settle(cost, {
    tokens_in: 0,
    tokens_out: 0,
    provider: served.model.provider,
    model: served.model.id,
    estimated: (!reported && facts.durationMs === undefined) || audioMs < heardMs,
    source: "voice",
    audio_ms: audioMs,
  });
  const body: Transcript = {
    text: heard.text.trim(),
    language: heard.language ?? want.language ?? null,
    duration_s: audioMs / 1000,
    ...(heard.words && heard.words.length > 0 ? { words: heard.words } : {}),
    provider: served.model.provider,
    model: served.model.id,
    credits_used: microToCredits(settled.charged),
  };
  return {
    body,
    meter: {
      creditsUsed: formatCredits(settled.charged),
      creditsBalance: formatCredits(settled.balance),
      provider: served.model.provider,
      model: served.model.id,
      audioSeconds: audioMs / 1000,
    },
  };
}
