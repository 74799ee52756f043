import {
  formatCredits,
  type HeldCall,
  logEvent,
  microToCredits,
  ServiceError,
  type SpeechAnswer,
  type VoiceCatalogEntry,
} from "@cognomega/shared";
import { ttsCandidates, ttsCostMicro } from "./catalog";
import { SPEECH_HOLD_SECONDS } from "./credits";
import type { VoiceDeps } from "./deps";
import type { SpokenAudio } from "./providers/types";
import { withFallback } from "./routing";
import type { SpeechWant } from "./speech-want";

/**
 * The most characters a second of speech can carry, at the fastest speed a request may ask for
 * (1.5×; ordinary speech is about 15 a second). A stream cut off after N seconds of audio is charged
 * for at most N × this many characters: never less than what could have been spoken.
 */
export const MAX_CHARS_PER_SECOND = 25;

/** Characters as billed: Unicode code points, so an emoji is one character, not two. */
export function billedCharacters(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** What a stream cut off after `bytes` of audio is charged for, in characters. */
export function charactersProduced(bytes: number, bytesPerSecond: number, characters: number): number {
  if (bytes <= 0) return 0;
  const seconds = bytes / Math.max(1, bytesPerSecond);
  return Math.min(characters, Math.ceil(seconds * MAX_CHARS_PER_SECOND));
}

function checkLength(characters: number, maxChars: number): void {
  if (characters > maxChars)
    throw new ServiceError(
      "invalid_input",
      `text is at most ${maxChars} characters (VOICE_MAX_CHARS); got ${characters}`,
      {
        issues: [{ path: "text", message: `at most ${maxChars} characters` }],
        limit: maxChars,
      },
    );
}

/** A served speech call: the audio as it arrives, and what settles its hold. */
export interface SpokenCall {
  audio: SpokenAudio;
  model: VoiceCatalogEntry;
  characters: number;
  costMicro: number;
  hold: HeldCall;
  /** What the call is charged as: a ledger entry `settle:<chargeId>`, written once. */
  chargeId: string;
}

/**
 * Takes a voice call's hold of `worstMicro` (at least one micro-credit, so every call is tracked)
 * from the caller's credit line; 402 when the balance cannot cover it, before any provider is called.
 */
export async function holdFor(
  deps: VoiceDeps,
  chargeId: string,
  worstMicro: number,
  ttlSeconds: number,
): Promise<HeldCall> {
  const amount = Math.max(1, worstMicro);
  const hold = await deps.credits.hold(chargeId, amount, ttlSeconds);
  if (!hold)
    throw new ServiceError(
      "insufficient_credits",
      `this call may cost up to ${microToCredits(amount)} credits; top up`,
      {
        needed: microToCredits(amount),
      },
    );
  return hold;
}

/**
 * Speaks `want.text` on the first candidate that answers: a hold for the dearest candidate's cost
 * first (402 before any provider is called), voided when none serves. The caller settles the hold
 * when the audio has been read (see {@link meteredAudio}); it is charged as `chargeId`.
 */
export async function startSpeech(deps: VoiceDeps, want: SpeechWant, chargeId: string): Promise<SpokenCall> {
  const characters = billedCharacters(want.text);
  checkLength(characters, deps.settings.maxChars);
  const { models } = await deps.catalog();
  const candidates = ttsCandidates(models, want, deps.settings.cartesia.voiceId);
  const usable = candidates.filter((c) => deps.providers[c.model.provider].configured().ok);
  if (usable.length === 0)
    throw new ServiceError(
      "not_configured",
      "no text-to-speech provider is configured: set CARTESIA_API_KEY, or deploy with the AI binding",
    );
  const worst = Math.max(...usable.map((c) => ttsCostMicro(c.model, characters, deps.settings.creditsPerUsd)));
  const hold = await holdFor(deps, chargeId, worst, SPEECH_HOLD_SECONDS);
  try {
    const served = await withFallback(
      candidates,
      deps.providers,
      (candidate, provider, signal) =>
        provider.speak({
          model: candidate.model,
          text: want.text,
          voice: candidate.voice,
          voiceRequested: want.voice !== undefined,
          format: want.format,
          ...(want.speed !== undefined ? { speed: want.speed } : {}),
          ...(want.language !== undefined ? { language: want.language } : {}),
          signal,
        }),
      deps.routing,
    );
    const costMicro = ttsCostMicro(served.model, characters, deps.settings.creditsPerUsd);
    return { audio: served.value, model: served.model, characters, costMicro, hold, chargeId };
  } catch (error) {
    await hold.void();
    throw error;
  }
}

/**
 * The provider's audio, passed on chunk by chunk as it arrives (never buffered), settling the hold
 * once: at the full cost when the provider finished, or for what it produced when the stream was
 * cut off or the client left (the provider is then told to stop). Never more than the hold.
 */
export function meteredAudio(
  spoken: SpokenCall,
  deps: VoiceDeps,
): { stream: ReadableStream<Uint8Array>; stop: () => Promise<void> } {
  const reader = spoken.audio.body.getReader();
  let bytes = 0;
  let pending = true;
  // Cancelling the provider's reader ends a read in flight as `done`: that is a client gone, not
  // a provider finished, and is charged for what was produced.
  let cancelled = false;
  const usage = (characters: number) => ({
    tokens_in: 0,
    tokens_out: 0,
    provider: spoken.model.provider,
    model: spoken.model.id,
    estimated: characters !== spoken.characters,
    source: "voice" as const,
    characters,
  });
  const settle = async (finished: boolean) => {
    if (!pending) return;
    pending = false;
    const characters = finished
      ? spoken.characters
      : charactersProduced(bytes, spoken.audio.bytesPerSecond, spoken.characters);
    try {
      if (characters === 0) await spoken.hold.void();
      else
        await spoken.hold.settle(
          finished ? spoken.costMicro : ttsCostMicro(spoken.model, characters, deps.settings.creditsPerUsd),
          usage(characters),
        );
    } catch (error) {
      logEvent("error", "speech charge not settled", { charge_id: spoken.chargeId, error });
    }
  };
  const stop = async (reason?: unknown) => {
    if (cancelled) return;
    cancelled = true;
    await reader.cancel(reason).catch(() => {});
    await settle(false);
  };
  // A provider that goes quiet mid-stream for longer than an attempt may take to start is treated
  // as broken off: the client gets an error, the hold is settled for what had arrived.
  const stalled = () =>
    new Promise<"stalled">((resolve) => {
      const timer = setTimeout(() => resolve("stalled"), deps.settings.attemptTimeoutMs);
      stallTimers.push(timer);
    });
  const stallTimers: ReturnType<typeof setTimeout>[] = [];
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array> | "stalled";
      try {
        next = await Promise.race([reader.read(), stalled()]);
      } catch (error) {
        await settle(false);
        controller.error(error);
        return;
      } finally {
        for (const timer of stallTimers.splice(0)) clearTimeout(timer);
      }
      if (next === "stalled") {
        await stop("the speech provider stopped sending audio");
        controller.error(new Error("the speech provider stopped sending audio"));
        return;
      }
      if (next.done) {
        if (cancelled) return;
        await settle(true);
        controller.close();
        return;
      }
      bytes += next.value.byteLength;
      if (!cancelled) controller.enqueue(next.value);
    },
    async cancel(reason) {
      deps.waitUntil(stop(reason));
    },
  });
  return { stream, stop: () => stop("the client left") };
}

/** The headers a speech answer starts with: its full cost is known before the first byte. */
export function speechAnswer(spoken: SpokenCall, deps: VoiceDeps): SpeechAnswer {
  const { stream, stop } = meteredAudio(spoken, deps);
  return {
    stream,
    stop,
    contentType: spoken.audio.contentType,
    meter: {
      creditsUsed: formatCredits(spoken.costMicro),
      creditsBalance: formatCredits(Math.max(0, spoken.hold.balanceMicro - spoken.costMicro)),
      provider: spoken.model.provider,
      model: spoken.model.id,
      characters: spoken.characters,
    },
  };
}
