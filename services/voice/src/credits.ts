import { allowanceLine, type CallContext, CreditAllowances, type CreditLine, type Identity } from "@cognomega/shared";
import type { VoiceSettings } from "./config";

/** How long a speech hold lives: long enough for the longest text to be spoken and streamed. */
export const SPEECH_HOLD_SECONDS = 900;
/** How long a transcription hold lives: the slowest provider's answer to the largest file. */
export const TRANSCRIBE_HOLD_SECONDS = 600;

/** Every account's voice allowances in this isolate (SI keeps its own). */
const voiceAllowances = new CreditAllowances();

/**
 * Where a voice call's holds come from: the account's allowance in this instance, the machinery SI
 * uses for its non-streamed asks (shared/src/allowances.ts). A warm allowance gives a call its hold
 * in memory, so the provider is called without a ledger round trip first; a call the allowance
 * cannot cover grows it by one ledger call, which is where a 402 or 429 comes from, still before
 * any provider is called.
 *
 * Speech streams draw on it too, although SI gives its streams holds of their own. What that
 * trades: a draw is a bounded in-memory amount (the call's worst case, at most VOICE_MAX_CHARS of
 * speech), but while any draw is open the allowance is not released, so its unused part (at most
 * VOICE_ALLOWANCE_CREDITS, and never more than half of what was free) stays reserved at the ledger
 * for as long as the stream lasts — seconds to a few minutes of audio, not the tens of minutes an
 * SI stream may run. The account's other instances see that much less available meanwhile; the
 * ledger still never lets allowances and holds together exceed the balance, so no tenant spends
 * beyond it. If this instance dies mid-stream the ledger frees the allowance at its expiry, about
 * a minute after the longest hold it could cover (SPEECH_HOLD_SECONDS), as it did a speech hold.
 */
export function voiceCredits(
  billing: VoiceEnv["BILLING"],
  settings: VoiceSettings,
  identity: Identity,
  call: CallContext,
  waitUntil: (promise: Promise<unknown>) => void,
): CreditLine {
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  return allowanceLine(
    () =>
      voiceAllowances.account(billing, identity, {
        targetMicro: settings.allowanceMicro,
        idleMs: settings.allowanceIdleMs,
        batchMs: settings.settleBatchMs,
        callTtlSeconds: Math.max(SPEECH_HOLD_SECONDS, TRANSCRIBE_HOLD_SECONDS),
      }),
    { call, waitUntil, sleep },
  );
}

/** For tests only (production code never reads it): what this isolate keeps, per account. */
export const voiceAllowancesForTests = {
  size: () => voiceAllowances.size,
  keeps: (sub: string) => voiceAllowances.has(sub),
};
