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
  type Transcript,
  VoiceAskQuery,
  type VoiceJsonAnswer,
  type VoiceLoopResult,
} from "@cognomega/shared";
import type { AudioFacts } from "./audio";
import { ttsCandidates, ttsCostMicro } from "./catalog";
import type { VoiceDeps } from "./deps";
import { charactersProduced, startSpeech } from "./speech";
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

/** A keyed loop's hearing, kept so its retries ask SI the same prompt. */
interface StoredHearing {
  transcript: Transcript;
  balance_micro: number;
}

/** Base64 of bytes, in slices (no per-byte string concatenation over megabytes). */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * The most answer audio one loop keeps: its base64 (4/3 larger) must fit one KV value (25 MiB) for a
 * retried key, and all of it must fit the isolate's memory beside the question's audio. Text the
 * provider speaks slowly (digits, a slow voice) could otherwise run to hundreds of megabytes.
 */
export const MAX_LOOP_AUDIO_BYTES = 16 * 1024 * 1024;

/** Reads a spoken answer up to `maxBytes`; past it the provider is told to stop (`cut`). */
async function readAll(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; cut: boolean }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      parts.push(value.subarray(0, maxBytes - size));
      size = maxBytes;
      cut = true;
      await reader.cancel().catch(() => {});
      break;
    }
    parts.push(value);
    size += value.byteLength;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return { bytes: out, cut };
}

/** Names in a spoken list: "a", "a and b", "a, b and c". */
function spokenList(names: string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/**
 * What the loop says of an answer. Prose is spoken as it is; a structured answer (a skill with an
 * output schema, such as `app-graph`) is summarised, since its JSON read aloud helps no one: the
 * data itself is in `answer.data`.
 */
export function spokenAnswer(answer: Pick<AskResult, "output" | "data">): string {
  if (answer.data === undefined) return answer.output;
  const graph = answer.data as { name?: unknown; entities?: unknown; screens?: unknown };
  if (typeof graph.name === "string" && Array.isArray(graph.entities) && Array.isArray(graph.screens)) {
    const entities = graph.entities
      .slice(0, 12)
      .map((entity) => (entity as { name?: unknown }).name)
      .filter((name): name is string => typeof name === "string");
    const more = graph.entities.length > entities.length ? ` and ${graph.entities.length - entities.length} more` : "";
    const screens = graph.screens.length;
    return `${graph.name}: an app with ${spokenList(entities)}${more}, on ${screens} screen${screens === 1 ? "" : "s"}. The full design is in the answer.`;
  }
  return "Done. The result is in the answer.";
}

/** Cuts text to `max` characters (code points), at the last sentence end or space when there is one. */
export function clipForSpeech(text: string, max: number): string {
  const points = [...text.slice(0, max * 2)];
  // `max` code points may take up to 2 × `max` UTF-16 units: the slice alone does not say text fits.
  if (points.length <= max && text.length <= max * 2) return text;
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
    // After a replay could answer (a stored answer needs no speech), before any stage is charged.
    await checkSpeakable(deps, options);
    const answer = await runLoop(deps, audio, facts, options, identity, call, nonce, key !== null);
    if (key !== null) {
      // An answer kept for replays is kept only once its stages' charges are in the ledger: else a
      // 503, and a retry under the key runs again, charged once under the same charge ids.
      await deps.credits.settled();
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

/**
 * The answer's speech stage, checked before the first charge: a voice, format or language no speech
 * model serves (400), or no speech provider configured (503), would otherwise be refused only after
 * the hearing and the ask had been paid for.
 */
async function checkSpeakable(deps: LoopDeps, options: VoiceAskQuery): Promise<void> {
  const { models } = await deps.catalog();
  const candidates = ttsCandidates(
    models,
    {
      format: options.format ?? "mp3",
      ...(options.voice !== undefined ? { voice: options.voice } : {}),
      ...(options.language !== undefined ? { language: options.language } : {}),
    },
    deps.settings.cartesia.voiceId,
  );
  if (!candidates.some((c) => deps.providers[c.model.provider].configured().ok))
    throw new ServiceError(
      "not_configured",
      "no text-to-speech provider is configured: set CARTESIA_API_KEY, or deploy with the AI binding",
    );
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
  // A retry hears what the first attempt heard: a second hearing may differ (Whisper is not
  // deterministic), and SI's key would then refuse the changed prompt as another request.
  const heardKey = keyed ? `loop:${nonce}:heard` : null;
  const earlier = heardKey ? await deps.kv.get<StoredHearing>(heardKey, "json").catch(() => null) : null;
  let transcript: Transcript;
  let balanceMicro: number;
  if (earlier?.transcript && typeof earlier.transcript.text === "string") {
    transcript = earlier.transcript;
    balanceMicro = earlier.balance_micro;
  } else {
    const heard = await transcribeAudio(
      deps,
      audio,
      facts,
      options.language !== undefined ? { language: options.language } : {},
      `vloop:${nonce}:stt`,
    );
    transcript = heard.body;
    balanceMicro = Math.round(Number(heard.meter.creditsBalance ?? "0") * MICRO_PER_CREDIT);
    if (heardKey) {
      const hearing: StoredHearing = { transcript, balance_micro: balanceMicro };
      // Unstored, a retry hears again: charged once all the same (the charge id), only less certain to match.
      await deps.kv.put(heardKey, JSON.stringify(hearing), { expirationTtl: LOOP_AUDIO_TTL_SECONDS }).catch(() => {});
    }
  }
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
  const text = clipForSpeech(spokenAnswer(answer), deps.settings.maxChars);
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
      `vloop:${nonce}:tts`,
    );
    let bytes: Uint8Array;
    let cut: boolean;
    try {
      ({ bytes, cut } = await readAll(started.audio.body, MAX_LOOP_AUDIO_BYTES));
    } catch (error) {
      await started.hold.void();
      throw new ServiceError("upstream_error", "the speech provider broke off the answer's audio", {
        provider: started.model.provider,
        cause: String(error instanceof Error ? error.name : "error"),
      });
    }
    // Audio cut at the limit is charged as a stream left at that point: for what it carries.
    const characters = cut
      ? charactersProduced(bytes.byteLength, started.audio.bytesPerSecond, started.characters)
      : started.characters;
    const settled = await started.hold.settle(
      cut ? ttsCostMicro(started.model, characters, deps.settings.creditsPerUsd) : started.costMicro,
      {
        tokens_in: 0,
        tokens_out: 0,
        provider: started.model.provider,
        model: started.model.id,
        estimated: cut,
        source: "voice",
        characters,
      },
    );
    balanceMicro = settled.balance;
    spoken = {
      content_type: started.audio.contentType,
      data: base64(bytes),
      provider: started.model.provider,
      model: started.model.id,
      characters,
      credits_used: microToCredits(settled.charged),
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
