import {
  type AskResult,
  type CallContext,
  formatCredits,
  type Identity,
  MICRO_PER_CREDIT,
  microToCredits,
  parseInput,
  ServiceError,
  sha256Hex,
  VoiceAskQuery,
  type VoiceJsonAnswer,
  type VoiceLoopResult,
} from "@cognomega/shared";
import type { AudioFacts } from "./audio";
import type { VoiceDeps } from "./deps";
import { startSpeech } from "./speech";
import { transcribeAudio } from "./transcribe";

/** How long a loop's spoken answer is kept for a retried key: as long as its idempotency record. */
const LOOP_AUDIO_TTL_SECONDS = 2 * 86_400;
/** The longest a loop may run before another attempt under its key may take over. */
const LOOP_LEASE_SECONDS = 600;

/** What the loop needs beyond the voice deps: SI for the ask, KV for a replayed answer's audio. */
export interface LoopDeps extends VoiceDeps {
  ask: (input: unknown, identity: Identity, key: string | null, call: CallContext) => Promise<unknown>;
  kv: KVNamespace;
  /** Begins, completes and abandons the operation under a client's key (BillingService). */
  operations: {
    begin(
      identity: Identity,
      key: string,
      fingerprint: string,
      call: CallContext,
      options: { leaseSeconds?: number },
    ): Promise<{ state: "new"; nonce: string } | { state: "replay"; response: string }>;
    complete(identity: Identity, key: string, response: string, call: CallContext): Promise<void>;
    abandon(identity: Identity, key: string, call: CallContext): Promise<void>;
  };
}

/** The stored answer of a keyed loop: the result without its audio, which lives in KV. */
interface StoredLoop {
  result: Omit<VoiceLoopResult, "audio"> & { audio: Omit<NonNullable<VoiceLoopResult["audio"]>, "data"> | null };
  audio_key: string | null;
  balance_micro: number;
}

/** Base64 of bytes, in slices (no per-byte string concatenation over megabytes). */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Reads a whole stream (a spoken answer, bounded by the text it speaks). */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.byteLength;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Cuts text to `max` characters (code points), at the last sentence end or space when there is one. */
export function clipForSpeech(text: string, max: number): string {
  const points = [...text.slice(0, max * 2)];
  if (points.length <= max) return text;
  const head = points.slice(0, max).join("");
  const stop = Math.max(head.lastIndexOf(". "), head.lastIndexOf("! "), head.lastIndexOf("? "), head.lastIndexOf("\n"));
  if (stop > max / 2) return head.slice(0, stop + 1);
  const space = head.lastIndexOf(" ");
  return space > max / 2 ? head.slice(0, space) : head;
}

function meterOf(result: VoiceLoopResult, balanceMicro: number) {
  return {
    creditsUsed: formatCredits(Math.round(result.credits_used * MICRO_PER_CREDIT)),
    creditsBalance: formatCredits(balanceMicro),
    ...(result.audio
      ? { provider: result.audio.provider, model: result.audio.model, characters: result.audio.characters }
      : {}),
    audioSeconds: result.transcript.duration_s,
  };
}

/**
 * Audio in → transcript → an SI ask → the answer spoken. Each stage is its own charge under the one
 * request id. Under a client's key the operation's nonce names every charge (`vloop:<nonce>:stt`,
 * `…:tts`, and SI's own key `voice:<nonce>`), so a retry after a failed stage re-runs what failed and
 * is charged once for what had succeeded; a retry after success replays the stored answer.
 */
export async function voiceLoop(
  deps: LoopDeps,
  audio: Uint8Array,
  facts: AudioFacts,
  query: unknown,
  identity: Identity,
  clientKey: string | null,
  call: CallContext,
): Promise<VoiceJsonAnswer<VoiceLoopResult>> {
  const options = parseInput(VoiceAskQuery, query ?? {});
  let nonce: string = crypto.randomUUID();
  const key = clientKey === null ? null : `voice:${clientKey}`;
  if (key !== null) {
    const fingerprint = await sha256Hex(`${await sha256Hex(audio)}:${JSON.stringify(options)}`);
    const begun = await deps.operations.begin(identity, key, fingerprint, call, { leaseSeconds: LOOP_LEASE_SECONDS });
    if (begun.state === "replay") return replay(deps, JSON.parse(begun.response) as StoredLoop);
    nonce = begun.nonce;
  }
  try {
    const answer = await runLoop(deps, audio, facts, options, identity, call, nonce, key !== null);
    if (key !== null) {
      const audioKey = answer.body.audio ? `loop:${nonce}` : null;
      if (audioKey && answer.body.audio)
        await deps.kv.put(audioKey, answer.body.audio.data, { expirationTtl: LOOP_AUDIO_TTL_SECONDS });
      const { audio: spoken, ...rest } = answer.body;
      const stored: StoredLoop = {
        result: { ...rest, audio: spoken ? { ...spoken, data: undefined } : null } as StoredLoop["result"],
        audio_key: audioKey,
        balance_micro: answer.balanceMicro,
      };
      await deps.operations.complete(identity, key, JSON.stringify(stored), call);
    }
    return { body: answer.body, meter: meterOf(answer.body, answer.balanceMicro) };
  } catch (error) {
    if (key !== null) await deps.operations.abandon(identity, key, call).catch(() => {});
    throw error;
  }
}

async function replay(deps: LoopDeps, stored: StoredLoop): Promise<VoiceJsonAnswer<VoiceLoopResult>> {
  let audio: VoiceLoopResult["audio"] = null;
  if (stored.result.audio && stored.audio_key) {
    const data = await deps.kv.get(stored.audio_key);
    // KV may take up to a minute to show a write made elsewhere.
    if (data === null)
      throw new ServiceError("conflict", "this answer's audio is not readable yet; retry shortly", { retry_after: 60 });
    audio = { ...stored.result.audio, data };
  }
  const body: VoiceLoopResult = { ...stored.result, audio };
  return { body, meter: meterOf(body, stored.balance_micro) };
}

async function runLoop(
  deps: LoopDeps,
  audio: Uint8Array,
  facts: AudioFacts,
  options: ReturnType<typeof parseInput<typeof VoiceAskQuery>>,
  identity: Identity,
  call: CallContext,
  nonce: string,
  keyed: boolean,
): Promise<{ body: VoiceLoopResult; balanceMicro: number }> {
  const heard = await transcribeAudio(
    deps,
    audio,
    facts,
    options.language !== undefined ? { language: options.language } : {},
    identity,
    call,
    { holdId: `vloop:${crypto.randomUUID()}:stt`, ...(keyed ? { chargeId: `vloop:${nonce}:stt` } : {}) },
  );
  const transcript = heard.body;
  let balanceMicro = Math.round(Number(heard.meter.creditsBalance ?? "0") * MICRO_PER_CREDIT);
  if (transcript.text === "") {
    return {
      body: {
        transcript,
        answer: null,
        audio: null,
        credits_used: transcript.credits_used,
        request_id: call.requestId,
      },
      balanceMicro,
    };
  }
  const asked = (await deps.ask(
    {
      prompt: transcript.text,
      skill: options.skill ?? "general",
      ...(options.policy !== undefined ? { policy: options.policy } : {}),
      ...(options.model !== undefined ? { model: options.model } : {}),
      ...(options.max_tokens !== undefined ? { max_tokens: options.max_tokens } : {}),
    },
    identity,
    keyed ? `voice:${nonce}` : null,
    call,
  )) as { body: AskResult };
  const answer = asked.body;
  balanceMicro = Math.round(answer.balance * MICRO_PER_CREDIT);
  const text = clipForSpeech(answer.output, deps.settings.maxChars);
  let spoken: VoiceLoopResult["audio"] = null;
  if (text.trim() !== "") {
    const started = await startSpeech(
      deps,
      {
        text,
        format: options.format ?? "mp3",
        ...(options.voice !== undefined ? { voice: options.voice } : {}),
        ...(options.language !== undefined ? { language: options.language } : {}),
      },
      identity,
      call,
      `vloop:${crypto.randomUUID()}:tts`,
    );
    let bytes: Uint8Array;
    try {
      bytes = await readAll(started.audio.body);
    } catch (error) {
      await started.hold.void();
      throw new ServiceError("upstream_error", "the speech provider broke off the answer's audio", {
        provider: started.model.provider,
        cause: String(error instanceof Error ? error.name : "error"),
      });
    }
    const settled = await started.hold.settle(
      started.costMicro,
      {
        tokens_in: 0,
        tokens_out: 0,
        provider: started.model.provider,
        model: started.model.id,
        estimated: false,
        source: "voice",
        characters: started.characters,
      },
      keyed ? `vloop:${nonce}:tts` : undefined,
    );
    balanceMicro = settled.balance_micro;
    spoken = {
      content_type: started.audio.contentType,
      data: base64(bytes),
      provider: started.model.provider,
      model: started.model.id,
      characters: started.characters,
      credits_used: microToCredits(settled.charged_micro),
    };
  }
  const total =
    Math.round(transcript.credits_used * MICRO_PER_CREDIT) +
    Math.round(answer.credits_used * MICRO_PER_CREDIT) +
    Math.round((spoken?.credits_used ?? 0) * MICRO_PER_CREDIT);
  return {
    body: { transcript, answer, audio: spoken, credits_used: microToCredits(total), request_id: call.requestId },
    balanceMicro,
  };
}
