import * as v from "valibot";
import { AskAnswer, JobAnswer } from "./answers";
import { AppGraphShape } from "./app-graph";
import type { RagResult } from "./rag";
import type { ScaffoldGraphResult, ScaffoldManifest, ScaffoldPage, ScaffoldRecord } from "./scaffold";
import { PROVIDERS, TIERS } from "./si";
import { type Transcript, VOICE_PROVIDERS, VoiceCatalogEntry, type VoiceLoopResult, type VoicePage } from "./voice";

/**
 * Schemas of the AI, retrieval, voice and scaffold answers (see ./answers.ts for the rule). Answers
 * of our own are closed (`strictObject`); the OpenAI-compatible ones are open (`looseObject`),
 * because they follow a format someone else extends and whose clients ignore what they don't know.
 * Types that live only in a service are tied to these schemas in gateway/src/openapi/answer-types.ts.
 */

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const INT = v.pipe(v.number(), v.integer());
const CREDITS = v.number();
const TIME = v.pipe(v.string(), v.isoTimestamp());
const SHA256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));

/** `GET /api/ai/binding`. */
export const ProviderStatusAnswer = v.strictObject({
  providers: v.array(
    v.strictObject({
      id: v.picklist(PROVIDERS),
      configured: v.boolean(),
      reason: v.optional(v.string()),
      healthy: v.boolean(),
      models: v.array(v.string()),
      circuits: v.record(v.string(), v.picklist(["closed", "open", "half-open"])),
    }),
  ),
});

/** One provider's outcome in `POST /api/ai/test`: skipped, answered, or failed. */
export const ProviderTestOutcome = v.union([
  v.strictObject({
    provider: v.picklist(PROVIDERS),
    ok: v.literal(false),
    skipped: v.literal(true),
    reason: v.string(),
  }),
  v.strictObject({
    provider: v.picklist(PROVIDERS),
    model: v.string(),
    ok: v.literal(true),
    ms: v.number(),
    reply: v.string(),
  }),
  v.strictObject({
    provider: v.picklist(PROVIDERS),
    model: v.string(),
    ok: v.literal(false),
    ms: v.number(),
    error: v.string(),
  }),
]);
/** One provider's outcome of the admin provider test. */
export type ProviderTestOutcome = v.InferOutput<typeof ProviderTestOutcome>;

/** `POST /api/ai/test`. */
export const ProviderTestAnswer = v.strictObject({ results: v.array(ProviderTestOutcome) });

/** One model of the SI catalog as configured (the si worker validates what is written with its own schema). */
export const CatalogEntryAnswer = v.strictObject({
  id: v.string(),
  provider: v.picklist(PROVIDERS),
  provider_model: v.string(),
  price_in_usd_per_m: v.number(),
  price_out_usd_per_m: v.number(),
  context_window: INT,
  tier: v.picklist(TIERS),
  capabilities: v.array(v.picklist(["chat", "json", "stream"])),
});

/** `GET|DELETE /api/admin/catalog`: the catalog in force and where it comes from. */
export const CatalogAnswer = v.strictObject({
  source: v.picklist(["default", "override"]),
  models: v.array(CatalogEntryAnswer),
});
/** `PUT /api/admin/catalog`: the override just stored. */
export const StoredCatalogAnswer = v.strictObject({ ...CatalogAnswer.entries, source: v.literal("override") });

/** `GET /v1/models` (OpenAI's model list, with Cognomega's context window and tier). */
export const ModelListAnswer = v.looseObject({
  object: v.literal("list"),
  data: v.array(
    v.looseObject({
      id: v.string(),
      object: v.literal("model"),
      created: v.number(),
      owned_by: v.picklist(PROVIDERS),
      context_window: INT,
      tier: v.picklist(TIERS),
    }),
  ),
});

/** A non-streamed `POST /v1/chat/completions`: OpenAI's `chat.completion`, with `cognomega` billing facts. */
export const ChatCompletionAnswer = v.looseObject({
  id: v.string(),
  object: v.literal("chat.completion"),
  created: v.number(),
  model: v.string(),
  choices: v.array(
    v.looseObject({
      index: INT,
      message: v.looseObject({ role: v.literal("assistant"), content: v.string(), refusal: v.null() }),
      logprobs: v.null(),
      finish_reason: v.picklist(["stop", "length"]),
    }),
  ),
  usage: v.looseObject({ prompt_tokens: INT, completion_tokens: INT, total_tokens: INT }),
  cognomega: v.strictObject({
    credits_used: CREDITS,
    balance: CREDITS,
    estimated: v.boolean(),
    route: AskAnswer.entries.route,
  }),
});

/** `POST /v1/audio/transcriptions` as JSON (`json` or `verbose_json`; `text` answers plain text). */
const TRANSCRIPTION_USAGE = v.looseObject({ type: v.literal("duration"), seconds: v.number() });
export const OpenAiTranscriptionAnswer = v.union([
  v.looseObject({ text: v.string(), usage: TRANSCRIPTION_USAGE }),
  v.looseObject({
    task: v.literal("transcribe"),
    language: v.nullable(v.string()),
    duration: v.number(),
    text: v.string(),
    words: v.array(v.looseObject({ word: v.string(), start: v.number(), end: v.number() })),
    usage: TRANSCRIPTION_USAGE,
  }),
]);

/** A `{ queued, job }` answer (202): the job to poll at `GET /api/jobs/:id`. */
export const QueuedJobAnswer = v.strictObject({ queued: v.literal(true), job: JobAnswer });

/** `DELETE` of an upload, a document or a scaffold: what was deleted. */
export const DeletedAnswer = v.strictObject({ deleted: v.string() });

/** `POST /api/rag/ingest` when indexed before the answer. */
export const RagIngestAnswer = v.strictObject({
  id: v.string(),
  title: v.string(),
  chunks: INT,
  chars: INT,
  replaced: v.boolean(),
  embedded: v.boolean(),
});

/** `POST /api/rag/query`. */
export const RagQueryAnswer = v.strictObject({
  results: v.array(
    v.strictObject({
      doc_id: v.string(),
      chunk_id: v.string(),
      snippet: v.string(),
      score: v.number(),
      text: v.string(),
    }),
  ),
  mode: v.picklist(["bm25", "hybrid"]),
});
const ragQueryMatches: Same<v.InferOutput<typeof RagQueryAnswer>["results"][number], RagResult> = true;

/** `POST /api/voice/transcribe`. */
export const TranscriptAnswer = v.strictObject({
  text: v.string(),
  language: v.nullable(v.string()),
  duration_s: v.number(),
  words: v.optional(v.array(v.strictObject({ word: v.string(), start: v.number(), end: v.number() }))),
  provider: v.picklist(VOICE_PROVIDERS),
  model: v.string(),
  credits_used: CREDITS,
});
const transcriptMatches: Same<v.InferOutput<typeof TranscriptAnswer>, Transcript> = true;

/** `GET /api/voice/voices`. */
export const VoicePageAnswer = v.strictObject({
  data: v.array(
    v.strictObject({
      id: v.string(),
      name: v.string(),
      provider: v.picklist(VOICE_PROVIDERS),
      language: v.nullable(v.string()),
      gender: v.optional(v.string()),
      description: v.optional(v.string()),
    }),
  ),
  next_cursor: v.nullable(v.string()),
});
const voicePageMatches: Same<v.InferOutput<typeof VoicePageAnswer>, VoicePage> = true;

/** `POST /api/voice/ask`: what was heard, the SI answer and that answer spoken (null for silence). */
export const VoiceLoopAnswer = v.strictObject({
  transcript: TranscriptAnswer,
  answer: v.nullable(AskAnswer),
  audio: v.nullable(
    v.strictObject({
      content_type: v.string(),
      data: v.string(),
      provider: v.picklist(VOICE_PROVIDERS),
      model: v.string(),
      characters: INT,
      credits_used: CREDITS,
    }),
  ),
  credits_used: CREDITS,
  request_id: v.string(),
});
// `answer` is AskAnswer, tied to AskResult in ./answers.ts (up to its free-form `data`).
const voiceLoopMatches: Same<
  Omit<v.InferOutput<typeof VoiceLoopAnswer>, "answer">,
  Omit<VoiceLoopResult, "answer">
> = true;

/** `GET|PUT|DELETE /api/admin/voice-catalog`: the catalog in force and where it comes from. */
export const VoiceCatalogAnswer = v.strictObject({
  models: v.array(VoiceCatalogEntry),
  source: v.picklist(["default", "kv"]),
});
/** `PUT /api/admin/voice-catalog`: the override just stored. */
export const StoredVoiceCatalogAnswer = v.strictObject({ ...VoiceCatalogAnswer.entries, source: v.literal("kv") });
/** `DELETE /api/admin/voice-catalog`: the built-in catalog again. */
export const DefaultVoiceCatalogAnswer = v.strictObject({
  ...VoiceCatalogAnswer.entries,
  source: v.literal("default"),
});

const ARCHIVE = v.strictObject({ bytes: INT, sha256: SHA256 });

/** `POST /api/scaffold/graph`. */
export const ScaffoldGraphAnswer = v.strictObject({
  graph: AppGraphShape,
  usage: AskAnswer.entries.usage,
  credits_used: CREDITS,
  balance: CREDITS,
  provider: v.string(),
  model: v.string(),
  request_id: v.string(),
});
const scaffoldGraphMatches: Same<v.InferOutput<typeof ScaffoldGraphAnswer>, ScaffoldGraphResult> = true;

const MANIFEST_FIELDS = {
  id: v.string(),
  name: v.string(),
  entities: v.array(v.strictObject({ name: v.string(), path: v.string() })),
  files: v.array(v.strictObject({ path: v.string(), bytes: INT, sha256: SHA256 })),
  archive: ARCHIVE,
  download: v.string(),
};
/** `POST /api/scaffold/render` (201). */
export const ScaffoldManifestAnswer = v.strictObject(MANIFEST_FIELDS);
const manifestMatches: Same<v.InferOutput<typeof ScaffoldManifestAnswer>, ScaffoldManifest> = true;

/** `GET /api/scaffold/:id`. */
export const ScaffoldRecordAnswer = v.strictObject({ ...MANIFEST_FIELDS, graph: AppGraphShape, created_at: TIME });
const recordMatches: Same<v.InferOutput<typeof ScaffoldRecordAnswer>, ScaffoldRecord> = true;

/** `GET /api/scaffold`. */
export const ScaffoldPageAnswer = v.strictObject({
  scaffolds: v.array(
    v.strictObject({ id: v.string(), name: v.string(), archive: ARCHIVE, created_at: TIME, download: v.string() }),
  ),
  cursor: v.optional(v.string()),
});
const scaffoldPageMatches: Same<v.InferOutput<typeof ScaffoldPageAnswer>, ScaffoldPage> = true;

/** Compile-time checks only; exported so they are not unused. */
export const AI_ANSWER_SCHEMAS_MATCH_TYPES = [
  ragQueryMatches,
  transcriptMatches,
  voicePageMatches,
  voiceLoopMatches,
  scaffoldGraphMatches,
  manifestMatches,
  recordMatches,
  scaffoldPageMatches,
] as const;
