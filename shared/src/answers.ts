import * as v from "valibot";
import type { GuestToken, Jwks, PublishedKeyInfo } from "./auth";
import type { CreditsView, LedgerEntryView, LimitState } from "./credits";
import { JOB_STATUSES, type JobSummary, type JobView } from "./jobs";
import type { RagDoc } from "./rag";
import { type AskResult, PROVIDERS, ROUTING_POLICIES } from "./si";
import type { UploadView } from "./uploads";
import type { UsageEvent } from "./usage";

/**
 * Schemas of the answers the gateway sends, for the OpenAPI document and its contract test (every
 * JSON answer a gateway test receives is checked against them). Each is tied to the TypeScript
 * type the services return by a compile-time check, so a field typed differently, or required in one
 * and missing from the other, fails the typecheck.
 */

/** True when A and B are assignable both ways: the schema says exactly what the type does. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const TIME = v.pipe(v.string(), v.isoTimestamp());
const CREDITS = v.number();

/** `POST /auth/guest`. */
export const GuestTokenAnswer = v.strictObject({
  token: v.string(),
  token_type: v.literal("Bearer"),
  expires_in: v.pipe(v.number(), v.integer()),
  sub: v.string(),
});
const guestTokenMatches: Same<v.InferOutput<typeof GuestTokenAnswer>, GuestToken> = true;

/** `GET /.well-known/jwks.json`. */
export const JwksAnswer = v.strictObject({
  keys: v.array(
    v.strictObject({
      kty: v.literal("RSA"),
      kid: v.string(),
      n: v.string(),
      e: v.string(),
      alg: v.literal("RS256"),
      use: v.literal("sig"),
    }),
  ),
});
const jwksMatches: Same<v.InferOutput<typeof JwksAnswer>, Jwks> = true;

/** `GET /api/admin/keys`. */
export const KeyListAnswer = v.strictObject({
  keys: v.array(
    v.strictObject({
      kid: v.string(),
      published_at: TIME,
      signing: v.boolean(),
      signing_since: v.optional(TIME),
    }),
  ),
});
const keyListMatches: Same<v.InferOutput<typeof KeyListAnswer>, { keys: PublishedKeyInfo[] }> = true;

/** `GET /api/credits`. */
export const CreditsAnswer = v.strictObject({
  account: v.string(),
  balance: CREDITS,
  reserved: CREDITS,
  available: CREDITS,
  holds: v.array(v.strictObject({ id: v.string(), amount: CREDITS, expires_at: TIME })),
});
const creditsMatches: Same<v.InferOutput<typeof CreditsAnswer>, CreditsView> = true;

const LIMIT = v.strictObject({
  limit: v.number(),
  remaining: v.number(),
  reset_seconds: v.pipe(v.number(), v.integer()),
});
/** `GET /api/limits` and `PUT /api/admin/limits/:account`. */
export const LimitsAnswer = v.strictObject({ rpm: LIMIT, daily_credits: LIMIT });
const limitsMatches: Same<v.InferOutput<typeof LimitsAnswer>, LimitState> = true;

/** `GET /api/credits/history`. */
export const LedgerPageAnswer = v.strictObject({
  entries: v.array(
    v.strictObject({
      id: v.string(),
      kind: v.picklist(["grant", "adjust", "settle"]),
      amount: CREDITS,
      balance_after: CREDITS,
      reason: v.nullable(v.string()),
      request_id: v.nullable(v.string()),
      actor: v.string(),
      hold_id: v.nullable(v.string()),
      created_at: TIME,
    }),
  ),
  cursor: v.nullable(v.string()),
});
const ledgerMatches: Same<
  v.InferOutput<typeof LedgerPageAnswer>,
  { entries: LedgerEntryView[]; cursor: string | null }
> = true;

/** One usage event, as `POST /api/billing/usage` answers and its listing pages hold. */
export const UsageEventAnswer = v.strictObject({
  id: v.string(),
  at: TIME,
  request_id: v.string(),
  tokens_in: v.pipe(v.number(), v.integer()),
  tokens_out: v.pipe(v.number(), v.integer()),
  provider: v.string(),
  model: v.string(),
  credits: CREDITS,
  source: v.picklist(["client", "si", "voice", "rag"]),
  estimated: v.optional(v.boolean()),
  characters: v.optional(v.pipe(v.number(), v.integer())),
  audio_seconds: v.optional(v.number()),
});
const usageMatches: Same<v.InferOutput<typeof UsageEventAnswer>, UsageEvent> = true;

/** `GET /api/billing/usage`. */
export const UsagePageAnswer = v.strictObject({ events: v.array(UsageEventAnswer), cursor: v.nullable(v.string()) });

const JOB_FIELDS = {
  id: v.string(),
  kind: v.string(),
  status: v.picklist(JOB_STATUSES),
  last_error: v.optional(v.string()),
  attempts: v.pipe(v.number(), v.integer()),
  max_attempts: v.pipe(v.number(), v.integer()),
  run_at: TIME,
  created_at: TIME,
  updated_at: TIME,
};
/** One job: `POST /api/jobs`, `GET|PATCH /api/jobs/:id`. */
export const JobAnswer = v.strictObject({
  ...JOB_FIELDS,
  input: v.unknown(),
  result: v.optional(v.unknown()),
  history: v.array(v.strictObject({ status: v.picklist(JOB_STATUSES), at: TIME, note: v.optional(v.string()) })),
});
// `input` is `unknown` in both: assignable both ways only up to that optionality, checked per field.
const jobMatches: Same<Omit<v.InferOutput<typeof JobAnswer>, "input">, Omit<JobView, "input">> = true;

/** `GET /api/jobs`. */
export const JobPageAnswer = v.strictObject({
  jobs: v.array(v.strictObject(JOB_FIELDS)),
  cursor: v.nullable(v.string()),
});
const jobPageMatches: Same<v.InferOutput<typeof JobPageAnswer>, { jobs: JobSummary[]; cursor: string | null }> = true;

/** One stored upload: `POST /api/upload/direct`. */
export const UploadAnswer = v.strictObject({
  key: v.string(),
  size: v.pipe(v.number(), v.integer()),
  content_type: v.string(),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  filename: v.string(),
  uploaded_at: TIME,
});
const uploadMatches: Same<v.InferOutput<typeof UploadAnswer>, UploadView> = true;

/** `GET /api/uploads`. */
export const UploadPageAnswer = v.strictObject({ uploads: v.array(UploadAnswer), cursor: v.nullable(v.string()) });

/** `GET /api/rag/docs`. */
export const RagDocsAnswer = v.strictObject({
  docs: v.array(
    v.strictObject({
      id: v.string(),
      title: v.string(),
      source: v.picklist(["text", "upload"]),
      chars: v.pipe(v.number(), v.integer()),
      chunks: v.pipe(v.number(), v.integer()),
      updated_at: TIME,
    }),
  ),
});
const ragDocsMatches: Same<v.InferOutput<typeof RagDocsAnswer>, { docs: RagDoc[] }> = true;

/** A non-streamed `POST /api/si/ask`. */
export const AskAnswer = v.strictObject({
  output: v.string(),
  data: v.optional(v.looseObject({})),
  usage: v.strictObject({
    tokens_in: v.pipe(v.number(), v.integer()),
    tokens_out: v.pipe(v.number(), v.integer()),
    estimated: v.boolean(),
  }),
  credits_used: CREDITS,
  balance: CREDITS,
  provider: v.picklist(PROVIDERS),
  model: v.string(),
  route: v.strictObject({
    policy: v.picklist([...ROUTING_POLICIES, "pinned"]),
    reason: v.string(),
    attempts: v.array(
      v.strictObject({
        provider: v.picklist(PROVIDERS),
        model: v.string(),
        outcome: v.picklist([
          "ok",
          "rate_limited",
          "server_error",
          "timeout",
          "connection_error",
          "rejected",
          "skipped_circuit_open",
          "skipped_insufficient_credits",
        ]),
        status: v.optional(v.pipe(v.number(), v.integer())),
        ms: v.optional(v.number()),
      }),
    ),
  }),
  advice: v.optional(
    v.strictObject({
      reason: v.picklist(["cost", "latency"]),
      message: v.string(),
      alternatives: v.array(
        v.strictObject({
          model: v.string(),
          provider: v.picklist(PROVIDERS),
          estimated_credits: CREDITS,
          estimated_saving_credits: CREDITS,
          estimated_saving_percent: v.number(),
          estimated_latency_ms: v.optional(v.number()),
        }),
      ),
    }),
  ),
  sources: v.optional(v.array(v.strictObject({ doc_id: v.string(), chunk_id: v.string(), score: v.number() }))),
  citations: v.optional(v.array(v.string())),
  request_id: v.string(),
});
const askMatches: Same<Omit<v.InferOutput<typeof AskAnswer>, "data">, Omit<AskResult, "data">> = true;

/** Compile-time checks only; exported so they are not unused. */
export const ANSWER_SCHEMAS_MATCH_TYPES = [
  guestTokenMatches,
  jwksMatches,
  keyListMatches,
  creditsMatches,
  limitsMatches,
  ledgerMatches,
  usageMatches,
  jobMatches,
  jobPageMatches,
  uploadMatches,
  ragDocsMatches,
  askMatches,
] as const;
