import * as v from "valibot";
import { JwksAnswer, LedgerPageAnswer } from "./answers";
import type {
  FlagEvaluation,
  FlagEvaluationError,
  FlagEvaluationSuccess,
  FlagHistoryPage,
  FlagList,
  FlagRecord,
  JsonValue,
} from "./flags";
import { FlagRule } from "./flags";
import type { Identity } from "./identity";
import type { JobCleanupResult, JobRunReport } from "./jobs";

/**
 * Schemas of the system, identity, admin, flag and analytics answers (see ./answers.ts for the
 * rule). Closed (`strictObject`) where the answer is ours; the OpenAPI document itself and OFREP's
 * evaluations are open, since their formats belong to specifications that add fields.
 * Types that live only in a service are tied to these schemas in gateway/src/openapi/answer-types.ts.
 */

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** An open object's named fields, without the index signature `looseObject` adds. */
type Known<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

const INT = v.pipe(v.number(), v.integer());
const TIME = v.pipe(v.string(), v.isoTimestamp());

/** `GET /ready` when every service answered. */
export const ReadyAnswer = v.strictObject({
  status: v.literal("ready"),
  services: v.record(v.string(), v.picklist(["ok", "unavailable"])),
});
/** What `GET /ready` answers. */
export type ReadyAnswer = v.InferOutput<typeof ReadyAnswer>;

/** `GET /openapi.json`: an OpenAPI 3.1 document (its own validity is checked by `npm run openapi`). */
export const OpenApiDocumentAnswer = v.looseObject({
  openapi: v.literal("3.1.0"),
  info: v.looseObject({ title: v.string(), version: v.string() }),
  paths: v.record(v.string(), v.looseObject({})),
  components: v.looseObject({}),
});

/** `GET /api/admin/ping`. */
export const AdminPingAnswer = v.strictObject({ ok: v.literal(true), admin: v.literal(true), request_id: v.string() });
/** What `GET /api/admin/ping` answers. */
export type AdminPingAnswer = v.InferOutput<typeof AdminPingAnswer>;

/** `GET /api/me`: the caller's identity and the request's id. */
export const MeAnswer = v.strictObject({
  sub: v.string(),
  email: v.optional(v.string()),
  source: v.picklist(["jwt", "header", "query", "admin"]),
  admin: v.boolean(),
  request_id: v.string(),
});
/** What `GET /api/me` answers. */
export type MeAnswer = v.InferOutput<typeof MeAnswer>;
const meMatches: Same<Omit<MeAnswer, "request_id">, Identity> = true;

/** `POST /api/admin/keys` (201): the public key now published. */
export const PublishedKeyAnswer = v.strictObject({ published: JwksAnswer.entries.keys.item });
/** What `POST /api/admin/keys` answers. */
export type PublishedKeyAnswer = v.InferOutput<typeof PublishedKeyAnswer>;

/** `DELETE /api/admin/keys/:kid`. */
export const RetiredKeyAnswer = v.strictObject({ retired: v.string() });

/** `POST /api/credits/adjust`: the ledger entry and the balance after it. */
export const AdjustAnswer = v.strictObject({ entry: LedgerPageAnswer.entries.entries.item, balance: v.number() });

/** `POST /api/jobs/run`: what the runner pass did with each due job. */
export const JobRunAnswer = v.strictObject({
  ran: v.array(
    v.strictObject({
      id: v.string(),
      kind: v.string(),
      outcome: v.picklist(["succeeded", "retry_scheduled", "failed", "skipped"]),
      attempts: v.optional(INT),
      error: v.optional(v.string()),
      reason: v.optional(v.string()),
    }),
  ),
});
const jobRunMatches: Same<v.InferOutput<typeof JobRunAnswer>, { ran: JobRunReport[] }> = true;

/** `POST /api/admin/cleanup`. */
export const CleanupAnswer = v.strictObject({
  jobs_deleted: INT,
  due_keys_deleted: INT,
  usage_events_deleted: INT,
  complete: v.boolean(),
});
const cleanupMatches: Same<v.InferOutput<typeof CleanupAnswer>, JobCleanupResult> = true;

// A variant's value or a context attribute: any JSON value. The services type it `JsonValue`, whose
// objects are plain `object` (see shared/src/flags.ts): the same values, a type tsc cannot relate.
const JSON_VALUE = v.union([
  v.string(),
  v.number(),
  v.boolean(),
  v.null(),
  v.array(v.unknown()),
  v.looseObject({}),
]) as unknown as v.GenericSchema<JsonValue>;

const FLAG_DEFINITION = v.strictObject({
  key: v.string(),
  type: v.picklist(["boolean", "string", "number", "object"]),
  variants: v.record(v.string(), JSON_VALUE),
  default_variant: v.string(),
  enabled: v.boolean(),
  rules: v.array(FlagRule),
  description: v.string(),
  version: v.string(),
  updated_at: TIME,
  updated_by: v.string(),
});
const FLAG_RECORD_FIELDS = {
  flag: FLAG_DEFINITION,
  overrides: v.record(v.string(), v.string()),
  etag: v.string(),
};

/** `GET /api/admin/flags/:key` and the override writes: the flag, its overrides and its ETag. */
export const FlagRecordAnswer = v.strictObject(FLAG_RECORD_FIELDS);
const flagRecordMatches: Same<v.InferOutput<typeof FlagRecordAnswer>, FlagRecord> = true;

/** `PUT /api/admin/flags/:key`: the flag as stored, and whether the PUT created it. */
export const FlagPutAnswer = v.strictObject({ ...FLAG_RECORD_FIELDS, created: v.boolean() });

/** `GET /api/admin/flags`. */
export const FlagListAnswer = v.strictObject({ flags: v.array(FlagRecordAnswer), version: v.string() });
const flagListMatches: Same<v.InferOutput<typeof FlagListAnswer>, FlagList> = true;

/** `DELETE /api/admin/flags/:key`. */
export const FlagRemoveAnswer = v.strictObject({ key: v.string(), deleted: v.literal(true), version: v.string() });

const FLAG_SET_ENTRY = v.strictObject({ definition: FLAG_DEFINITION, overrides: v.record(v.string(), v.string()) });

/** `GET /api/admin/flags/:key/history`: changes newest first; `next` is the `before` of the next page. */
export const FlagHistoryAnswer = v.strictObject({
  entries: v.array(
    v.strictObject({
      seq: INT,
      key: v.string(),
      action: v.picklist(["put", "delete", "put_override", "delete_override"]),
      account: v.optional(v.string()),
      at: TIME,
      by: v.string(),
      request_id: v.string(),
      before: v.nullable(FLAG_SET_ENTRY),
      after: v.nullable(FLAG_SET_ENTRY),
      version: v.string(),
    }),
  ),
  next: v.nullable(INT),
});
const flagHistoryMatches: Same<v.InferOutput<typeof FlagHistoryAnswer>, FlagHistoryPage> = true;

/** OFREP's success answer for one flag (open: OFREP adds fields, e.g. `metadata`). */
export const FlagEvaluationSuccessAnswer = v.looseObject({
  key: v.string(),
  value: JSON_VALUE,
  reason: v.picklist(["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "DEFAULT"]),
  variant: v.optional(v.string()),
  metadata: v.optional(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
});
const evaluationSuccessMatches: Same<
  Known<v.InferOutput<typeof FlagEvaluationSuccessAnswer>>,
  FlagEvaluationSuccess
> = true;

const FLAG_EVALUATION_ERROR = v.looseObject({
  key: v.string(),
  errorCode: v.picklist([
    "FLAG_NOT_FOUND",
    "TYPE_MISMATCH",
    "PARSE_ERROR",
    "TARGETING_KEY_MISSING",
    "INVALID_CONTEXT",
    "GENERAL",
  ]),
  errorDetails: v.optional(v.string()),
});
const evaluationErrorMatches: Same<Known<v.InferOutput<typeof FLAG_EVALUATION_ERROR>>, FlagEvaluationError> = true;
// Typed as the services' union: each arm is tied to its interface just above.
const FLAG_EVALUATION = v.union([
  FlagEvaluationSuccessAnswer,
  FLAG_EVALUATION_ERROR,
]) as unknown as v.GenericSchema<FlagEvaluation>;

/** OFREP bulk evaluation: every flag (a flag that failed carries its error), and the set's version. */
export const BulkEvaluationAnswer = v.looseObject({
  flags: v.array(FLAG_EVALUATION),
  metadata: v.looseObject({ version: v.string() }),
});
/** What the OFREP bulk evaluation answers. */
export type BulkEvaluationAnswer = v.InferOutput<typeof BulkEvaluationAnswer>;

/** `GET /api/flags`: values by key, each evaluation, and the set's version. */
export const CallerFlagsAnswer = v.strictObject({
  version: v.string(),
  values: v.record(v.string(), JSON_VALUE),
  flags: v.array(FLAG_EVALUATION),
});
/** What `GET /api/flags` answers. */
export type CallerFlagsAnswer = v.InferOutput<typeof CallerFlagsAnswer>;

/** `POST /api/admin/rollup`. */
export const RollupAnswer = v.strictObject({
  hours: INT,
  events: INT,
  rows: INT,
  skipped_hours: INT,
  statements: INT,
  kv_reads: INT,
  per_hour: v.array(v.strictObject({ hour: TIME, events: INT, rows: INT })),
});

/** `GET /api/analytics/usage` and its admin twin: one row per group, its value under the group's name. */
export const UsageSummaryAnswer = v.strictObject({
  from: TIME,
  to: TIME,
  group_by: v.picklist(["hour", "day", "model", "provider", "account"]),
  rows: v.array(
    v.objectWithRest(
      {
        requests: INT,
        tokens_in: INT,
        tokens_out: INT,
        seconds: v.number(),
        characters: INT,
        credits: v.number(),
        credits_micro: INT,
        estimated_requests: INT,
        embedding_requests: INT,
      },
      v.union([v.string(), v.number()]),
    ),
  ),
  truncated: v.boolean(),
});

/** `GET /api/admin/analytics/rollups`. */
export const RollupStatusAnswer = v.strictObject({
  runs: v.array(
    v.strictObject({
      hour: TIME,
      started_at: TIME,
      finished_at: v.nullable(TIME),
      status: v.string(),
      events: v.nullable(INT),
      rows: v.nullable(INT),
      error: v.nullable(v.string()),
    }),
  ),
  oldest_unrolled_hour: v.nullable(TIME),
  lag_hours: v.number(),
  rows_written_24h: INT,
});

/** Compile-time checks only; exported so they are not unused. */
export const ADMIN_ANSWER_SCHEMAS_MATCH_TYPES = [
  meMatches,
  jobRunMatches,
  cleanupMatches,
  flagRecordMatches,
  flagListMatches,
  flagHistoryMatches,
  evaluationSuccessMatches,
  evaluationErrorMatches,
] as const;
