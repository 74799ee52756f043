import {
  logEvent,
  parseInput,
  ServiceError,
  type SpeechFormat,
  tokenCost,
  usdPerMToMicroPerM,
  VoiceCatalog,
  type VoiceCatalogEntry,
} from "@cognomega/shared";

/** Cartesia's voice when neither the request nor `CARTESIA_VOICE_ID` names one. */
export const CARTESIA_DEFAULT_VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091";

/**
 * Aura-2 English speakers, as the `speaker` enum of Cloudflare's `@cf/deepgram/aura-2-en` model page
 * lists them (researched 2026-12-01). A fixed list: the binding has no voices endpoint.
 */
const AURA_2_EN_SPEAKERS = [
  "amalthea",
  "andromeda",
  "apollo",
  "arcas",
  "aries",
  "asteria",
  "athena",
  "atlas",
  "aurora",
  "callista",
  "cora",
  "cordelia",
  "delia",
  "draco",
  "electra",
  "harmonia",
  "helena",
  "hera",
  "hermes",
  "hyperion",
  "iris",
  "janus",
  "juno",
  "jupiter",
  "luna",
  "mars",
  "minerva",
  "neptune",
  "odysseus",
  "ophelia",
  "orion",
  "orpheus",
  "pandora",
  "phoebe",
  "pluto",
  "saturn",
  "thalia",
  "theia",
  "vesta",
  "zeus",
];

// Data, like SI's model catalog: an admin replaces it in KV (`PUT /api/admin/voice-catalog`) without a
// deploy. Prices are the providers' list prices in USD: Cartesia's credit per character
// at its $50/M-character tier, Aura-2 $0.03 per 1k characters, Whisper turbo $0.00051 per minute,
// Ink-Whisper about one credit per 2 s of audio.
export const DEFAULT_VOICE_CATALOG: VoiceCatalog = {
  models: [
    {
      id: "cartesia/sonic-3",
      provider: "cartesia",
      model: "sonic-3",
      kind: "tts",
      usd_per_m_chars: 50,
      formats: ["mp3", "wav", "pcm"],
      languages: ["en", "fr", "de", "es", "pt", "zh", "ja", "hi", "it", "ko", "nl", "pl", "ru", "sv", "tr"],
      default_voice: CARTESIA_DEFAULT_VOICE,
      speed: true,
      priority: 10,
    },
    {
      id: "workers-ai/aura-2-en",
      provider: "workers-ai",
      model: "@cf/deepgram/aura-2-en",
      kind: "tts",
      usd_per_m_chars: 30,
      formats: ["mp3", "wav", "pcm"],
      languages: ["en"],
      default_voice: "luna",
      voices: AURA_2_EN_SPEAKERS,
      speed: false,
      priority: 20,
    },
    {
      id: "workers-ai/whisper-large-v3-turbo",
      provider: "workers-ai",
      model: "@cf/openai/whisper-large-v3-turbo",
      kind: "stt",
      usd_per_minute: 0.00051,
      languages: [],
      priority: 10,
    },
    {
      id: "cartesia/ink-whisper",
      provider: "cartesia",
      model: "ink-whisper",
      kind: "stt",
      usd_per_minute: 0.003,
      languages: [],
      priority: 20,
    },
  ],
};

/** The catalog as it is served, with where it came from. */
export type LoadedVoiceCatalog = VoiceCatalog & { source: "default" | "kv" };

const CATALOG_KEY = "catalog";
const CACHE_MS = 30_000;
let cached: { at: number; catalog: LoadedVoiceCatalog } | undefined;

/**
 * What the schema cannot say alone: prices must convert to exact micro-credits (at most 6 decimals),
 * or every charge of that model would fail at settlement; and a model with a voice list must list its
 * default voice, or a request naming no voice would ask it for one it lacks. Checked at store time,
 * so a catalog is never accepted and then unusable.
 */
function checkCatalog(catalog: VoiceCatalog): VoiceCatalog {
  const issues = catalog.models.flatMap((model, index) => {
    const price = model.kind === "tts" ? model.usd_per_m_chars : model.usd_per_minute;
    const field = model.kind === "tts" ? "usd_per_m_chars" : "usd_per_minute";
    const found: { path: string; message: string }[] = [];
    if (price !== undefined && usdPerMToMicroPerM(price, 1) === undefined)
      found.push({ path: `models.${index}.${field}`, message: "a price has at most 6 decimals" });
    if (model.voices && model.default_voice !== undefined && !model.voices.includes(model.default_voice))
      found.push({ path: `models.${index}.default_voice`, message: "default_voice must be one of voices" });
    return found;
  });
  const first = issues[0];
  if (first) throw new ServiceError("invalid_input", `${first.path}: ${first.message}`, { issues });
  return catalog;
}

/**
 * The voice catalog in force: an admin's override from KV, else {@link DEFAULT_VOICE_CATALOG}. A
 * stored value that no longer validates falls back to the default (logged), so a broken override
 * cannot take speech down. Cached ~30 s per isolate.
 */
export async function loadVoiceCatalog(kv: KVNamespace): Promise<LoadedVoiceCatalog> {
  if (cached && Date.now() - cached.at < CACHE_MS) return cached.catalog;
  const stored = await kv.get(CATALOG_KEY);
  let catalog: LoadedVoiceCatalog = { ...DEFAULT_VOICE_CATALOG, source: "default" };
  if (stored !== null) {
    try {
      catalog = { ...checkCatalog(parseInput(VoiceCatalog, JSON.parse(stored))), source: "kv" };
    } catch {
      logEvent("error", "voice catalog override in KV is invalid; using the default catalog");
    }
  }
  cached = { at: Date.now(), catalog };
  return catalog;
}

/** Validates and stores an override, replacing the whole catalog; a bad one is a 400 `invalid_input`. */
export async function storeVoiceCatalog(kv: KVNamespace, input: unknown): Promise<VoiceCatalog & { source: "kv" }> {
  const catalog = checkCatalog(parseInput(VoiceCatalog, input));
  await kv.put(CATALOG_KEY, JSON.stringify(catalog));
  cached = undefined;
  return { ...catalog, source: "kv" };
}

/** Removes the override: the default catalog applies again. */
export async function resetVoiceCatalog(kv: KVNamespace): Promise<VoiceCatalog & { source: "default" }> {
  await kv.delete(CATALOG_KEY);
  cached = undefined;
  return { ...DEFAULT_VOICE_CATALOG, source: "default" };
}

/** Forgets the per-isolate cache (tests). */
export function forgetVoiceCatalogCache(): void {
  cached = undefined;
}

/** A text-to-speech candidate: a model and the voice it would speak this request with. */
export interface TtsCandidate {
  model: VoiceCatalogEntry;
  voice: string;
}

/** What a speech request asks of a model. */
export interface TtsWant {
  model?: string;
  voice?: string;
  format: SpeechFormat;
  speed?: number;
  language?: string;
}

/** What a transcription asks of a model. */
export interface SttWant {
  model?: string;
  language?: string;
}

// Cartesia voice ids are lower-case UUIDs. Fixed-width classes: linear on any input.
const CARTESIA_VOICE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True when `voice` looks like a Cartesia voice id (any such id may exist in the caller's account). */
export function isCartesiaVoiceId(voice: string): boolean {
  return voice.length === 36 && CARTESIA_VOICE_ID.test(voice);
}

function invalid(path: string, message: string): ServiceError {
  return new ServiceError("invalid_input", message, { issues: [{ path, message }] });
}

function byPriority(a: VoiceCatalogEntry, b: VoiceCatalogEntry): number {
  return (a.priority ?? 100) - (b.priority ?? 100) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function primary(language: string): string {
  return language.split("-")[0]?.toLowerCase() ?? language;
}

function speaksLanguage(model: VoiceCatalogEntry, language: string): boolean {
  if (model.languages.length === 0) return true;
  const wanted = primary(language);
  return model.languages.some((l) => primary(l) === wanted);
}

function canSpeakVoice(model: VoiceCatalogEntry, voice: string): boolean {
  if (model.voices) return model.voices.includes(voice);
  if (model.provider === "cartesia") return isCartesiaVoiceId(voice);
  return model.default_voice === voice;
}

/** The models of `kind`, or the one `name` pins (a catalog id, or a provider model name that is unique). */
function pick(models: VoiceCatalogEntry[], kind: "tts" | "stt", name: string | undefined): VoiceCatalogEntry[] {
  const ofKind = models.filter((m) => m.kind === kind).sort(byPriority);
  if (name === undefined) {
    if (ofKind.length === 0)
      throw new ServiceError(
        "not_configured",
        `the voice catalog has no ${kind === "tts" ? "speech" : "transcription"} model`,
      );
    return ofKind;
  }
  const byProviderModel = models.filter((m) => m.model === name);
  const found = models.find((m) => m.id === name) ?? (byProviderModel.length === 1 ? byProviderModel[0] : undefined);
  if (!found) throw invalid("model", `unknown model ${name}; GET /api/admin/voice-catalog lists them`);
  if (found.kind !== kind)
    throw invalid(
      "model",
      `${found.id} is a ${found.kind === "tts" ? "text-to-speech" : "speech-to-text"} model, not a ${kind === "tts" ? "text-to-speech" : "speech-to-text"} one`,
    );
  return [found];
}

/** Narrows the candidates by one requirement; none left is a 400 naming it. */
function narrow(
  models: VoiceCatalogEntry[],
  keep: (model: VoiceCatalogEntry) => boolean,
  path: string,
  message: string,
): VoiceCatalogEntry[] {
  const kept = models.filter(keep);
  if (kept.length === 0) throw invalid(path, message);
  return kept;
}

/**
 * The text-to-speech models that can serve a request, in the order to try them (priority, then id),
 * each with the voice it would use: the request's, else for Cartesia `cartesiaVoiceId` (the
 * `CARTESIA_VOICE_ID` setting) or the model's default, else the model's default. A model with a
 * `voices` list speaks exactly those; a Cartesia model without one speaks any voice id shaped like a
 * Cartesia UUID (the caller's account may hold voices no list shows); any other model speaks only its
 * default voice. A model pinned by
 * name, a voice no model speaks, or a format, language or speed no remaining model supports is a
 * 400 `invalid_input` whose issue path names the field.
 */
export function ttsCandidates(models: VoiceCatalogEntry[], want: TtsWant, cartesiaVoiceId?: string): TtsCandidate[] {
  let pool = pick(models, "tts", want.model);
  const voice = want.voice;
  if (voice !== undefined)
    pool = narrow(
      pool,
      (m) => canSpeakVoice(m, voice),
      "voice",
      want.model === undefined
        ? `no model has a voice named ${voice}; GET /api/voice/voices lists them`
        : `${pool[0]?.id} has no voice named ${voice}; GET /api/voice/voices lists them`,
    );
  pool = narrow(
    pool,
    (m) => m.formats?.includes(want.format) ?? false,
    "format",
    `no model${voice === undefined ? "" : ` with voice ${voice}`} produces ${want.format}`,
  );
  const language = want.language;
  if (language !== undefined)
    pool = narrow(
      pool,
      (m) => speaksLanguage(m, language),
      "language",
      `no model speaks ${language} in that voice and format`,
    );
  if (want.speed !== undefined)
    pool = narrow(pool, (m) => m.speed === true, "speed", "no model that fits this request supports speed");
  return pool.map((model) => ({
    model,
    voice:
      voice ??
      (model.provider === "cartesia" ? (cartesiaVoiceId ?? model.default_voice) : model.default_voice) ??
      // A tts entry always has default_voice (the schema's check): this only satisfies the type.
      "",
  }));
}

/**
 * The speech-to-text models that can serve a transcription, in the order to try them. A pinned
 * model that is unknown or not speech-to-text, or a language no model hears, is a 400.
 */
export function sttCandidates(models: VoiceCatalogEntry[], want: SttWant): VoiceCatalogEntry[] {
  const pool = pick(models, "stt", want.model);
  const language = want.language;
  if (language === undefined) return pool;
  return narrow(pool, (m) => speaksLanguage(m, language), "language", `no transcription model hears ${language}`);
}

/** A positive price never charges nothing: the call ran. */
function atLeastOne(cost: number, pricePerUnit: number): number {
  return pricePerUnit > 0 ? Math.max(1, cost) : cost;
}

function microPerUnit(usd: number | undefined, creditsPerUsd: number, what: string): number {
  const micro = usd === undefined ? undefined : usdPerMToMicroPerM(usd, creditsPerUsd);
  if (micro === undefined) throw new ServiceError("not_configured", `${what} is not an exact price`);
  return micro;
}

/**
 * What speaking `characters` costs on a text-to-speech model, in micro-credits: exact, rounded up,
 * and at least 1 when the model has a price.
 */
export function ttsCostMicro(model: VoiceCatalogEntry, characters: number, creditsPerUsd: number): number {
  // micro-USD per M characters × credits per USD = micro-credits per M characters.
  const perM = microPerUnit(model.usd_per_m_chars, creditsPerUsd, `${model.id} usd_per_m_chars`);
  return atLeastOne(tokenCost(characters, perM), perM);
}

/**
 * What transcribing `audioMs` milliseconds costs on a speech-to-text model, in micro-credits: exact
 * (BigInt), rounded up, and at least 1 when the model has a price.
 */
export function sttCostMicro(model: VoiceCatalogEntry, audioMs: number, creditsPerUsd: number): number {
  // usdPerMToMicroPerM scales any unit price exactly: here micro-credits per minute.
  const perMinute = microPerUnit(model.usd_per_minute, creditsPerUsd, `${model.id} usd_per_minute`);
  const ms = BigInt(Math.max(0, Math.ceil(audioMs)));
  const cost = Number((ms * BigInt(perMinute) + 59_999n) / 60_000n);
  return atLeastOne(cost, perMinute);
}
