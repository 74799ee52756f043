import {
  AdjustRequest,
  AskAnswer,
  AskRequest,
  CreateJobRequest,
  CreditsAnswer,
  type ErrorCode,
  FlagDefinitionInput,
  FlagOverrideInput,
  GuestTokenAnswer,
  GuestTokenRequest,
  JobAnswer,
  JobPageAnswer,
  JwksAnswer,
  KeyListAnswer,
  LedgerPageAnswer,
  LimitsAnswer,
  LimitsRequest,
  OpenAiSpeechRequest,
  PageQuery,
  PublishKeyRequest,
  RagDocsAnswer,
  RagIngestRequest,
  RagQueryRequest,
  ScaffoldGraphRequest,
  ScaffoldListQuery,
  ScaffoldRenderRequest,
  SpeechRequest,
  TranscribeOptions,
  TranscribeUpload,
  UpdateJobRequest,
  UploadAnswer,
  UploadPageAnswer,
  UsageEventAnswer,
  UsagePageAnswer,
  UsageQuery,
  UsageReport,
  VoiceAskQuery,
  VoiceAskUpload,
  VoiceCatalog,
  VoiceListQuery,
} from "@cognomega/shared";
import type { GenericSchema } from "valibot";
import * as v from "valibot";

/**
 * Who may call an operation: nobody in particular, a signed-in caller (guest token), an admin
 * (`X-Admin-Key`), or either.
 */
export type OperationAuth = "none" | "bearer" | "admin" | "bearer-or-admin";

/** What an answer carries: JSON (optionally with its schema), server-sent events, or bytes. */
export type AnswerContent =
  | { kind: "json"; schema?: GenericSchema }
  | { kind: "sse" }
  | { kind: "binary"; types: readonly string[] }
  | { kind: "none" };

/** A request body: JSON validated by a schema, or raw bytes of the listed types. */
export type RequestBody =
  | { kind: "json"; schema: GenericSchema; required?: boolean }
  | { kind: "binary"; types: readonly string[]; alternative?: GenericSchema }
  | { kind: "multipart"; fields: Record<string, { type: "string" | "binary"; required?: boolean }> };

/** One public operation of the gateway, as the OpenAPI document describes it. */
export interface Operation {
  method: "get" | "post" | "put" | "delete" | "patch";
  /** The router's path, with `:name` parameters. */
  path: string;
  tag: string;
  summary: string;
  auth: OperationAuth;
  body?: RequestBody;
  /** Query parameters: an object schema whose entries are the parameters. */
  query?: GenericSchema;
  /** Request headers the operation reads beyond auth. */
  headers?: readonly ("Idempotency-Key" | "If-Match" | "If-None-Match" | "X-File-Name" | "Content-Length")[];
  ok: { status: number; description: string; content: AnswerContent; billed?: boolean };
  /** Further success answers (e.g. 202 when a job was queued instead). */
  alternatives?: { status: number; description: string; content: AnswerContent }[];
  /** Error codes beyond those every operation of its kind can answer (auth, body, limits). */
  errors?: readonly ErrorCode[];
  /**
   * `ofrep`: the operation answers OFREP's own error bodies, not problem+json (the one exception):
   * a flag's failure `{ key, errorCode, errorDetails }` (400, 404) and a request's failure
   * `{ errorDetails, code, request_id }` (401, 413, 429, 5xx).
   */
  errorFormat?: "ofrep";
}

const AUDIO_IN = ["audio/wav", "audio/mpeg", "audio/webm", "audio/ogg", "audio/mp4", "audio/flac"] as const;
const AUDIO_OUT = ["audio/mpeg", "audio/wav", "audio/pcm"] as const;
/**
 * Operations a gate flag can switch off for a tenant (403 `feature_disabled`): voice.enabled,
 * scaffold.enabled, and si.models for a pinned model the tenant may not use.
 */
export const GATED_OPERATIONS: ReadonlySet<string> = new Set([
  "post /api/si/ask",
  "post /v1/chat/completions",
  "post /api/jobs",
  "post /api/voice/speech",
  "post /api/voice/transcribe",
  "get /api/voice/voices",
  "post /api/voice/ask",
  "post /v1/audio/speech",
  "post /v1/audio/transcriptions",
  "post /api/scaffold/graph",
  "post /api/scaffold/render",
  "post /api/scaffold",
  "get /api/scaffold",
  "get /api/scaffold/:id",
  "get /api/scaffold/:id/download",
  "delete /api/scaffold/:id",
]);

/** A JSON object the owning service validates with a schema of its own (not yet in shared/). */
const SERVICE_CHECKED_OBJECT = v.looseObject({});
const json = (schema?: GenericSchema): AnswerContent => (schema ? { kind: "json", schema } : { kind: "json" });
const body = (schema: GenericSchema, required = true): RequestBody => ({ kind: "json", schema, required });
// The analytics worker checks its ranges itself (parseRange/parseGroup); these describe them.
const ANALYTICS_TIME = v.optional(v.pipe(v.string(), v.isoTimestamp()));
const AnalyticsQuery = v.object({
  from: ANALYTICS_TIME,
  to: ANALYTICS_TIME,
  group_by: v.optional(v.picklist(["hour", "day", "model", "provider"])),
});
const AdminAnalyticsQuery = v.object({
  from: ANALYTICS_TIME,
  to: ANALYTICS_TIME,
  account: v.optional(v.string()),
  group_by: v.optional(v.picklist(["hour", "day", "model", "provider", "account"])),
});
const RollupRequest = v.strictObject({ from: ANALYTICS_TIME, to: ANALYTICS_TIME });

/** An OFREP request body: `{ context? }`, the context's attributes checked by the gateway. */
const OfrepRequest = v.looseObject({ context: v.optional(v.looseObject({ targetingKey: v.optional(v.string()) })) });

/** The operations as written; {@link OPERATIONS} adds what gate flags can answer. */
const ALL_OPERATIONS: readonly Operation[] = [
  // System
  {
    method: "get",
    path: "/ready",
    tag: "system",
    summary: "Readiness: 200 only when every internal worker answers its health check",
    auth: "none",
    ok: { status: 200, description: "every service is ready", content: json() },
    errors: ["upstream_unavailable"],
  },
  {
    method: "get",
    path: "/openapi.json",
    tag: "system",
    summary: "This document",
    auth: "none",
    ok: { status: 200, description: "the OpenAPI 3.1 document", content: json() },
  },
  {
    method: "get",
    path: "/api/admin/ping",
    tag: "system",
    summary: "Admin liveness: 200 for a valid admin key",
    auth: "admin",
    ok: { status: 200, description: "the key is valid", content: json() },
  },
  // Identity
  {
    method: "post",
    path: "/auth/guest",
    tag: "identity",
    summary: "Issue an RS256 guest token (and its starting credits)",
    auth: "none",
    body: body(GuestTokenRequest, false),
    ok: { status: 200, description: "a token, its expiry and the account", content: json(GuestTokenAnswer) },
    errors: ["rate_limited"],
  },
  {
    method: "get",
    path: "/.well-known/jwks.json",
    tag: "identity",
    summary: "The public keys guest tokens are verified with",
    auth: "none",
    ok: { status: 200, description: "a JWK set", content: json(JwksAnswer) },
  },
  {
    method: "get",
    path: "/api/me",
    tag: "identity",
    summary: "Who the gateway takes the caller to be",
    auth: "bearer-or-admin",
    ok: { status: 200, description: "the caller's identity", content: json() },
    // An honoured email identity (TRUST_EMAIL_IDENTITY) that is not an email address.
    errors: ["invalid_input"],
  },
  {
    method: "get",
    path: "/api/admin/keys",
    tag: "identity",
    summary: "Published signing keys with their rotation facts",
    auth: "admin",
    ok: { status: 200, description: "the keys", content: json(KeyListAnswer) },
  },
  {
    method: "post",
    path: "/api/admin/keys",
    tag: "identity",
    summary: "Rotation step 1: publish the next key's public half",
    auth: "admin",
    body: body(PublishKeyRequest),
    ok: { status: 201, description: "the key is published", content: json() },
    errors: ["conflict"],
  },
  {
    method: "delete",
    path: "/api/admin/keys/:kid",
    tag: "identity",
    summary: "Retire an old signing key after its overlap window (`?force=true` skips the wait)",
    auth: "admin",
    ok: { status: 200, description: "the key is retired", content: json() },
    errors: ["not_found", "conflict"],
  },
  // Credits, limits, usage
  {
    method: "get",
    path: "/api/credits",
    tag: "credits",
    summary: "The caller's balance, reservations and open holds",
    auth: "bearer",
    ok: { status: 200, description: "the balance (also in `X-Credits-Balance`)", content: json(CreditsAnswer) },
  },
  {
    method: "post",
    path: "/api/credits/adjust",
    tag: "credits",
    summary: "Admin: add or take credits (an `Idempotency-Key` is required)",
    auth: "admin",
    body: body(AdjustRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 200, description: "the ledger entry and the new balance", content: json() },
    errors: ["idempotency_mismatch", "insufficient_credits", "not_found", "conflict"],
  },
  {
    method: "get",
    path: "/api/credits/history",
    tag: "credits",
    summary: "The caller's ledger entries, newest first",
    auth: "bearer",
    query: PageQuery,
    ok: { status: 200, description: "a page of entries", content: json(LedgerPageAnswer) },
  },
  {
    method: "get",
    path: "/api/limits",
    tag: "credits",
    summary: "The caller's limits and what is left of them",
    auth: "bearer",
    ok: { status: 200, description: "requests per minute and daily credits", content: json(LimitsAnswer) },
  },
  {
    method: "put",
    path: "/api/admin/limits/:account",
    tag: "credits",
    summary: "Admin: set a tenant's own limits (`null` restores a default)",
    auth: "admin",
    body: body(LimitsRequest),
    ok: { status: 200, description: "the tenant's limits", content: json(LimitsAnswer) },
    errors: ["not_found"],
  },
  ...(["/api/billing/usage", "/api/usage", "/usage"] as const).flatMap((path): Operation[] => [
    {
      method: "get",
      path,
      tag: "credits",
      summary: "The caller's usage events, oldest first",
      auth: "bearer",
      query: UsageQuery,
      ok: { status: 200, description: "a page of usage events", content: json(UsagePageAnswer) },
    },
    {
      method: "post",
      path,
      tag: "credits",
      summary: "Record a usage event the client measured",
      auth: "bearer",
      body: body(UsageReport),
      headers: ["Idempotency-Key"],
      ok: { status: 201, description: "the recorded event", content: json(UsageEventAnswer) },
      errors: ["idempotency_mismatch", "quota_exceeded"],
    },
  ]),
  // AI
  {
    method: "post",
    path: "/api/si/ask",
    tag: "ai",
    summary: "An AI ask, billed per token; `stream: true` answers with server-sent events",
    auth: "bearer",
    body: body(AskRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 200, description: "the answer, with billing headers", content: json(AskAnswer), billed: true },
    alternatives: [{ status: 200, description: "`stream: true`: token and done events", content: { kind: "sse" } }],
    errors: [
      "insufficient_credits",
      "quota_exceeded",
      "idempotency_mismatch",
      "upstream_error",
      "upstream_unavailable",
      "not_configured",
    ],
  },
  {
    method: "get",
    path: "/api/ai/binding",
    tag: "ai",
    summary: "Which AI providers are configured and healthy",
    auth: "none",
    ok: { status: 200, description: "provider states", content: json() },
  },
  {
    method: "post",
    path: "/api/ai/test",
    tag: "ai",
    summary: "Admin: one tiny call per configured provider, with its latency",
    auth: "admin",
    ok: { status: 200, description: "each provider's outcome", content: json() },
  },
  {
    method: "get",
    path: "/api/admin/catalog",
    tag: "ai",
    summary: "Admin: the model catalog in force",
    auth: "admin",
    ok: { status: 200, description: "the catalog", content: json() },
  },
  {
    method: "put",
    path: "/api/admin/catalog",
    tag: "ai",
    summary: "Admin: replace the model catalog",
    auth: "admin",
    body: { kind: "json", schema: SERVICE_CHECKED_OBJECT, required: true },
    ok: { status: 200, description: "the catalog now in force", content: json() },
  },
  {
    method: "delete",
    path: "/api/admin/catalog",
    tag: "ai",
    summary: "Admin: restore the built-in model catalog",
    auth: "admin",
    ok: { status: 200, description: "the built-in catalog", content: json() },
  },
  {
    method: "post",
    path: "/v1/chat/completions",
    tag: "openai",
    summary: "OpenAI-compatible chat completions, with the same token, credits and routing",
    auth: "bearer",
    body: { kind: "json", schema: SERVICE_CHECKED_OBJECT, required: true },
    ok: { status: 200, description: "a chat completion", content: json(), billed: true },
    alternatives: [{ status: 200, description: "`stream: true`: chat completion chunks", content: { kind: "sse" } }],
    errors: ["insufficient_credits", "quota_exceeded", "upstream_error", "upstream_unavailable", "not_configured"],
  },
  {
    method: "get",
    path: "/v1/models",
    tag: "openai",
    summary: "OpenAI-compatible model list",
    auth: "bearer",
    ok: { status: 200, description: "the models", content: json() },
  },
  // Jobs
  {
    method: "get",
    path: "/api/jobs",
    tag: "jobs",
    summary: "The caller's jobs, newest first",
    auth: "bearer",
    ok: { status: 200, description: "a page of jobs", content: json(JobPageAnswer) },
    // Its query (`status`, `limit`, `cursor`) is checked by the jobs worker.
    errors: ["invalid_input"],
  },
  {
    method: "post",
    path: "/api/jobs",
    tag: "jobs",
    summary: "Create a job",
    auth: "bearer",
    body: body(CreateJobRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 201, description: "the job", content: json(JobAnswer) },
    alternatives: [
      { status: 200, description: "the job this Idempotency-Key already created", content: json(JobAnswer) },
    ],
    errors: ["quota_exceeded", "idempotency_mismatch"],
  },
  {
    method: "post",
    path: "/api/jobs/run",
    tag: "jobs",
    summary: "Admin: run the due jobs now",
    auth: "admin",
    ok: { status: 200, description: "what ran", content: json() },
  },
  {
    method: "get",
    path: "/api/jobs/:id",
    tag: "jobs",
    summary: "One of the caller's jobs",
    auth: "bearer",
    ok: { status: 200, description: "the job", content: json(JobAnswer) },
    errors: ["not_found"],
  },
  {
    method: "patch",
    path: "/api/jobs/:id",
    tag: "jobs",
    summary: "Cancel a job, or replace a pending job's input",
    auth: "bearer",
    body: body(UpdateJobRequest),
    ok: { status: 200, description: "the job", content: json(JobAnswer) },
    errors: ["not_found", "conflict"],
  },
  {
    method: "post",
    path: "/api/admin/cleanup",
    tag: "jobs",
    summary: "Admin: prune stale jobs and expired usage events",
    auth: "admin",
    ok: { status: 200, description: "counts of what was pruned", content: json() },
  },
  // Uploads
  {
    method: "post",
    path: "/api/upload/direct",
    tag: "uploads",
    summary: "Stream the body into storage (`Content-Length` required; name from `X-File-Name` or `?filename=`)",
    auth: "bearer",
    body: { kind: "binary", types: ["application/octet-stream"] },
    headers: ["Content-Length", "X-File-Name"],
    ok: { status: 201, description: "the stored upload", content: json(UploadAnswer) },
    errors: ["length_required", "quota_exceeded"],
  },
  {
    method: "get",
    path: "/api/uploads",
    tag: "uploads",
    summary: "The caller's uploads, oldest first",
    auth: "bearer",
    query: PageQuery,
    ok: { status: 200, description: "a page of uploads", content: json(UploadPageAnswer) },
  },
  {
    method: "get",
    path: "/api/uploads/:key",
    tag: "uploads",
    summary: "Download one of the caller's uploads",
    auth: "bearer",
    ok: { status: 200, description: "the file as stored", content: { kind: "binary", types: ["*/*"] } },
    errors: ["not_found"],
  },
  {
    method: "delete",
    path: "/api/uploads/:key",
    tag: "uploads",
    summary: "Delete one of the caller's uploads",
    auth: "bearer",
    ok: { status: 200, description: "what was deleted", content: json() },
    errors: ["not_found"],
  },
  // Retrieval
  {
    method: "post",
    path: "/api/rag/ingest",
    tag: "rag",
    summary: "Index a document (large ones run as a `rag.ingest` job)",
    auth: "bearer",
    body: body(RagIngestRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 200, description: "the indexed document", content: json(), billed: true },
    alternatives: [{ status: 202, description: "queued as a job to poll", content: json() }],
    errors: ["insufficient_credits", "quota_exceeded", "not_found"],
  },
  {
    method: "post",
    path: "/api/rag/query",
    tag: "rag",
    summary: "The best chunks of the caller's documents for a query",
    auth: "bearer",
    body: body(RagQueryRequest),
    ok: { status: 200, description: "chunks, best first", content: json(), billed: true },
    errors: ["insufficient_credits"],
  },
  {
    method: "get",
    path: "/api/rag/docs",
    tag: "rag",
    summary: "The caller's documents",
    auth: "bearer",
    ok: { status: 200, description: "the documents", content: json(RagDocsAnswer) },
  },
  {
    method: "delete",
    path: "/api/rag/docs/:id",
    tag: "rag",
    summary: "Remove one of the caller's documents",
    auth: "bearer",
    ok: { status: 200, description: "what was removed", content: json() },
    errors: ["not_found"],
  },
  // Voice
  {
    method: "post",
    path: "/api/voice/speech",
    tag: "voice",
    summary: "Text to speech, streamed as the provider sends it",
    auth: "bearer",
    body: body(SpeechRequest),
    ok: { status: 200, description: "the audio", content: { kind: "binary", types: AUDIO_OUT }, billed: true },
    errors: ["insufficient_credits", "upstream_error", "upstream_unavailable", "not_configured"],
  },
  {
    method: "post",
    path: "/api/voice/transcribe",
    tag: "voice",
    summary: "Speech to text: the audio as the body, or `{ upload_key }`",
    auth: "bearer",
    body: { kind: "binary", types: AUDIO_IN, alternative: TranscribeUpload },
    query: TranscribeOptions,
    headers: ["Content-Length"],
    ok: { status: 200, description: "the transcript", content: json(), billed: true },
    errors: [
      "length_required",
      "insufficient_credits",
      "not_found",
      "upstream_error",
      "upstream_unavailable",
      "not_configured",
    ],
  },
  {
    method: "get",
    path: "/api/voice/voices",
    tag: "voice",
    summary: "The voices a caller may pick, paged",
    auth: "bearer",
    query: VoiceListQuery,
    ok: { status: 200, description: "a page of voices", content: json() },
    errors: ["upstream_unavailable", "not_configured"],
  },
  {
    method: "post",
    path: "/api/voice/ask",
    tag: "voice",
    summary: "The voice loop: audio in, an AI answer spoken back",
    auth: "bearer",
    body: { kind: "binary", types: AUDIO_IN, alternative: VoiceAskUpload },
    query: VoiceAskQuery,
    headers: ["Content-Length", "Idempotency-Key"],
    ok: { status: 200, description: "transcript, answer and its audio", content: json(), billed: true },
    errors: [
      "length_required",
      "insufficient_credits",
      "idempotency_mismatch",
      "not_found",
      "upstream_error",
      "upstream_unavailable",
      "not_configured",
    ],
  },
  {
    method: "post",
    path: "/v1/audio/speech",
    tag: "openai",
    summary: "OpenAI-compatible speech",
    auth: "bearer",
    body: body(OpenAiSpeechRequest),
    ok: { status: 200, description: "the audio", content: { kind: "binary", types: AUDIO_OUT }, billed: true },
    errors: ["insufficient_credits", "upstream_error", "upstream_unavailable", "not_configured"],
  },
  {
    method: "post",
    path: "/v1/audio/transcriptions",
    tag: "openai",
    summary: "OpenAI-compatible transcription (multipart `file` and `model`)",
    auth: "bearer",
    body: {
      kind: "multipart",
      fields: {
        file: { type: "binary", required: true },
        model: { type: "string", required: true },
        language: { type: "string" },
        response_format: { type: "string" },
      },
    },
    ok: { status: 200, description: "the transcript", content: json() },
    alternatives: [
      {
        status: 200,
        description: "`response_format=text`: the text",
        content: { kind: "binary", types: ["text/plain"] },
      },
    ],
    errors: ["length_required", "insufficient_credits", "upstream_error", "upstream_unavailable", "not_configured"],
  },
  {
    method: "get",
    path: "/api/admin/voice-catalog",
    tag: "voice",
    summary: "Admin: the voice catalog in force",
    auth: "admin",
    ok: { status: 200, description: "the catalog", content: json() },
  },
  {
    method: "put",
    path: "/api/admin/voice-catalog",
    tag: "voice",
    summary: "Admin: replace the voice catalog",
    auth: "admin",
    body: body(VoiceCatalog),
    ok: { status: 200, description: "the catalog now in force", content: json() },
  },
  {
    method: "delete",
    path: "/api/admin/voice-catalog",
    tag: "voice",
    summary: "Admin: restore the built-in voice catalog",
    auth: "admin",
    ok: { status: 200, description: "the built-in catalog", content: json() },
  },
  // Scaffold
  {
    method: "post",
    path: "/api/scaffold/graph",
    tag: "scaffold",
    summary: "An App Graph from a description, billed as an ask",
    auth: "bearer",
    body: body(ScaffoldGraphRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 200, description: "the graph", content: json(), billed: true },
    errors: ["insufficient_credits", "upstream_error", "upstream_unavailable", "not_configured"],
  },
  {
    method: "post",
    path: "/api/scaffold/render",
    tag: "scaffold",
    summary: "Render an App Graph into a project (no AI call)",
    auth: "bearer",
    body: body(ScaffoldRenderRequest),
    ok: { status: 201, description: "the rendered project's manifest", content: json() },
    errors: ["quota_exceeded"],
  },
  {
    method: "post",
    path: "/api/scaffold",
    tag: "scaffold",
    summary: "Queue a `scaffold.generate` job: graph, then render",
    auth: "bearer",
    body: body(ScaffoldGraphRequest),
    headers: ["Idempotency-Key"],
    ok: { status: 202, description: "the job to poll", content: json() },
    errors: ["quota_exceeded", "idempotency_mismatch"],
  },
  {
    method: "get",
    path: "/api/scaffold",
    tag: "scaffold",
    summary: "The caller's scaffolds, oldest first",
    auth: "bearer",
    query: ScaffoldListQuery,
    ok: { status: 200, description: "a page of scaffolds", content: json() },
  },
  {
    method: "get",
    path: "/api/scaffold/:id",
    tag: "scaffold",
    summary: "One of the caller's scaffolds: its manifest and graph",
    auth: "bearer",
    ok: { status: 200, description: "the scaffold", content: json() },
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/api/scaffold/:id/download",
    tag: "scaffold",
    summary: "The scaffold's project as a zip",
    auth: "bearer",
    ok: { status: 200, description: "the zip", content: { kind: "binary", types: ["application/zip"] } },
    errors: ["not_found"],
  },
  {
    method: "delete",
    path: "/api/scaffold/:id",
    tag: "scaffold",
    summary: "Delete one of the caller's scaffolds",
    auth: "bearer",
    ok: { status: 200, description: "what was deleted", content: json() },
    errors: ["not_found"],
  },
  // Feature flags: OFREP v0.3 and the admin registry
  {
    method: "post",
    path: "/ofrep/v1/evaluate/flags/:key",
    tag: "flags",
    summary: "OFREP: evaluate one flag for the caller's context",
    auth: "bearer-or-admin",
    body: body(OfrepRequest, false),
    ok: { status: 200, description: "the flag's value, variant and reason", content: json() },
    errorFormat: "ofrep",
    errors: ["not_found", "payload_too_large"],
  },
  {
    method: "post",
    path: "/ofrep/v1/evaluate/flags",
    tag: "flags",
    summary: "OFREP: evaluate every flag for the caller's context (ETag; If-None-Match answers 304)",
    auth: "bearer-or-admin",
    body: body(OfrepRequest, false),
    headers: ["If-None-Match"],
    ok: { status: 200, description: "every flag's evaluation", content: json() },
    alternatives: [{ status: 304, description: "unchanged since the ETag named", content: { kind: "none" } }],
    errorFormat: "ofrep",
    errors: ["payload_too_large"],
  },
  {
    method: "get",
    path: "/api/flags",
    tag: "flags",
    summary: "The caller's evaluated flags",
    auth: "bearer",
    ok: { status: 200, description: "values by key, and each evaluation", content: json() },
  },
  {
    method: "get",
    path: "/api/admin/flags",
    tag: "flags",
    summary: "Admin: every defined flag with its overrides",
    auth: "admin",
    ok: { status: 200, description: "the flags (ETag: the registry's version)", content: json() },
  },
  {
    method: "get",
    path: "/api/admin/flags/:key",
    tag: "flags",
    summary: "Admin: one flag (ETag: its version)",
    auth: "admin",
    ok: { status: 200, description: "the flag", content: json() },
    errors: ["not_found"],
  },
  {
    method: "put",
    path: "/api/admin/flags/:key",
    tag: "flags",
    summary: "Admin: create a flag, or replace one (If-Match with its ETag required)",
    auth: "admin",
    body: body(FlagDefinitionInput),
    headers: ["If-Match"],
    ok: { status: 200, description: "the replaced flag", content: json() },
    alternatives: [{ status: 201, description: "the created flag", content: json() }],
    errors: ["precondition_required", "precondition_failed", "quota_exceeded"],
  },
  {
    method: "delete",
    path: "/api/admin/flags/:key",
    tag: "flags",
    summary: "Admin: delete a flag (If-Match required; its history stays)",
    auth: "admin",
    headers: ["If-Match"],
    ok: { status: 200, description: "what was deleted", content: json() },
    errors: ["not_found", "precondition_required", "precondition_failed"],
  },
  {
    method: "put",
    path: "/api/admin/flags/:key/overrides/:account",
    tag: "flags",
    summary: "Admin: pin one account to a variant",
    auth: "admin",
    body: body(FlagOverrideInput),
    ok: { status: 200, description: "the flag with its overrides", content: json() },
    errors: ["not_found", "quota_exceeded"],
  },
  {
    method: "delete",
    path: "/api/admin/flags/:key/overrides/:account",
    tag: "flags",
    summary: "Admin: drop one account's override",
    auth: "admin",
    ok: { status: 200, description: "the flag with its overrides", content: json() },
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/api/admin/flags/:key/history",
    tag: "flags",
    summary: "Admin: the flag's changes, newest first (`?limit=&before=`)",
    auth: "admin",
    ok: { status: 200, description: "a page of changes", content: json() },
    errors: ["not_found"],
  },
  // Usage analytics (PostgreSQL)
  {
    method: "post",
    path: "/api/admin/rollup",
    tag: "analytics",
    summary: "Admin: roll up every hour the range touches now (the open hour included)",
    auth: "admin",
    body: body(RollupRequest, false),
    ok: { status: 200, description: "hours, events and rows written", content: json() },
    errors: ["upstream_unavailable", "not_configured"],
  },
  {
    method: "get",
    path: "/api/analytics/usage",
    tag: "analytics",
    summary: "The caller's rolled-up usage, grouped",
    auth: "bearer",
    query: AnalyticsQuery,
    ok: { status: 200, description: "rows of sums", content: json() },
    errors: ["upstream_unavailable", "not_configured"],
  },
  {
    method: "get",
    path: "/api/admin/analytics/usage",
    tag: "analytics",
    summary: "Admin: any tenant's rolled-up usage, grouped",
    auth: "admin",
    query: AdminAnalyticsQuery,
    ok: { status: 200, description: "rows of sums", content: json() },
    errors: ["upstream_unavailable", "not_configured"],
  },
  {
    method: "get",
    path: "/api/admin/analytics/rollups",
    tag: "analytics",
    summary: "Admin: recent rollup runs, the lag and rows written",
    auth: "admin",
    ok: { status: 200, description: "runs and lag", content: json() },
    errors: ["upstream_unavailable", "not_configured"],
  },
];

/**
 * Every public route of the gateway. A test fails when the router has a route this table lacks, or
 * the reverse, so the document cannot fall behind the code.
 */
export const OPERATIONS: readonly Operation[] = ALL_OPERATIONS.map((operation) =>
  GATED_OPERATIONS.has(`${operation.method} ${operation.path}`)
    ? { ...operation, errors: [...(operation.errors ?? []), "feature_disabled"] }
    : operation,
);
