import * as v from "valibot";

/**
 * Feature flags: the definition an admin writes, the evaluation context, OFREP's evaluation
 * answers, and the FlagSet every isolate evaluates from. The engine is in flag-engine.ts, the
 * isolate cache in flag-cache.ts, the mesh's own gates in flag-gates.ts.
 */

/** The bounds every definition, override and context is held to (checked on write and on read). */
export const FLAG_LIMITS = {
  /** Flags one set may hold. */
  flags: 200,
  /** Variants one flag may have. */
  variants: 20,
  /** Rules one flag may have. */
  rules: 50,
  /** Conditions one rule may have. */
  conditions: 10,
  /** Values one `in` / `not_in` list may hold. */
  inValues: 100,
  /** Characters of any string a condition compares with. */
  stringChars: 256,
  /** Bytes of one variant's value as JSON (object variants). */
  variantJsonBytes: 4096,
  /** Per-account overrides one flag may hold. */
  overrides: 500,
  /** Characters of a description. */
  descriptionChars: 500,
  /** Attributes one evaluation context may carry. */
  contextAttributes: 50,
  /** Characters of one string attribute (and of a targetingKey). */
  contextStringChars: 1024,
  /** Bytes of a whole evaluation context as JSON. */
  contextJsonBytes: 16384,
} as const;

/** The operators a rule condition may use. */
export const FLAG_OPERATORS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "starts_with",
  "ends_with",
  "contains",
  "gt",
  "gte",
  "lt",
  "lte",
  "exists",
] as const;
export type FlagOperator = (typeof FLAG_OPERATORS)[number];

/** The value types a flag may have (OpenFeature's boolean, string, number and object). */
export const FLAG_TYPES = ["boolean", "string", "number", "object"] as const;
export type FlagType = (typeof FLAG_TYPES)[number];

/** OpenFeature evaluation reasons this engine answers. */
export type FlagReason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED" | "DEFAULT";

/** OpenFeature error codes this engine (and the OFREP routes) answer. */
export type FlagErrorCode =
  | "FLAG_NOT_FOUND"
  | "TYPE_MISMATCH"
  | "PARSE_ERROR"
  | "TARGETING_KEY_MISSING"
  | "INVALID_CONTEXT"
  | "GENERAL";

/** A flag key: `voice.enabled`, `checkout-v2`. Dots, dashes and underscores between alphanumerics. */
export const FLAG_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const VARIANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ATTRIBUTE_PATTERN = /^[A-Za-z_$][A-Za-z0-9_.$-]{0,63}$/;
/** An account key as identities carry it (`guest:<uuid>`, `email:<address>`, `admin`). */
export const FLAG_ACCOUNT_PATTERN = /^[\x21-\x7e]{1,320}$/;

/** A flag key, checked. */
export const FlagKey = v.pipe(
  v.string("key must be a string"),
  v.regex(FLAG_KEY_PATTERN, "key is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"),
);

/** An account an override names. */
export const FlagAccount = v.pipe(
  v.string("account must be a string"),
  v.regex(FLAG_ACCOUNT_PATTERN, "account is 1-320 visible ASCII characters"),
);

const VariantName = v.pipe(
  v.string("variant must be a string"),
  v.regex(VARIANT_PATTERN, "variant is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
);
const Attribute = v.pipe(
  v.string("attribute must be a string"),
  v.regex(ATTRIBUTE_PATTERN, "attribute is 1-64 characters: letters, digits, '_', '$', '.', '-'"),
);
const BoundedString = v.pipe(
  v.string(),
  v.maxLength(FLAG_LIMITS.stringChars, `strings in conditions are at most ${FLAG_LIMITS.stringChars} characters`),
);
const FiniteNumber = v.pipe(v.number(), v.finite("numbers must be finite"));
const Scalar = v.union([BoundedString, FiniteNumber, v.boolean()], "value must be a string, number or boolean");

/** One condition of a rule: `attribute op value`. `exists` takes no value. */
export const FlagCondition = v.strictObject({
  attribute: Attribute,
  op: v.picklist(FLAG_OPERATORS, `op is one of ${FLAG_OPERATORS.join(", ")}`),
  value: v.optional(
    v.union([
      Scalar,
      v.pipe(
        v.array(v.union([BoundedString, FiniteNumber])),
        v.maxLength(FLAG_LIMITS.inValues, `a list holds at most ${FLAG_LIMITS.inValues} values`),
      ),
    ]),
  ),
});
export type FlagCondition = v.InferOutput<typeof FlagCondition>;

/** One share of a fractional rollout. */
export const FlagRolloutShare = v.strictObject({
  variant: VariantName,
  weight: v.pipe(
    v.number("weight must be a number"),
    v.integer("weight must be an integer"),
    v.minValue(0),
    v.maxValue(100),
  ),
});
export type FlagRolloutShare = v.InferOutput<typeof FlagRolloutShare>;

/** A targeting rule: all of `when` must hold; it then yields `variant` or a `rollout` (exactly one). */
export const FlagRule = v.strictObject({
  when: v.optional(
    v.pipe(
      v.array(FlagCondition),
      v.maxLength(FLAG_LIMITS.conditions, `a rule has at most ${FLAG_LIMITS.conditions} conditions`),
    ),
  ),
  variant: v.optional(VariantName),
  rollout: v.optional(
    v.pipe(
      v.array(FlagRolloutShare),
      v.minLength(1, "a rollout has at least one share"),
      v.maxLength(FLAG_LIMITS.variants, `a rollout has at most ${FLAG_LIMITS.variants} shares`),
    ),
  ),
});
export type FlagRule = v.InferOutput<typeof FlagRule>;

/**
 * Any JSON value (a variant's value, a context attribute), as parsed from JSON and checked where it
 * enters. Arrays and objects are plain `object` rather than a recursive JSON union: the workers'
 * RPC stub types recurse through such a union until tsc gives up (TS2589).
 */
export type JsonValue = string | number | boolean | null | object;

/**
 * What an admin sends to `PUT /api/admin/flags/:key` (the key comes from the path; a `key` in the
 * body must equal it). Cross-field checks (variants named, weights summing to 100, values of the
 * type) are in `checkFlagDefinition`.
 */
export const FlagDefinitionInput = v.strictObject({
  key: v.optional(FlagKey),
  type: v.picklist(FLAG_TYPES, `type is one of ${FLAG_TYPES.join(", ")}`),
  variants: v.pipe(
    v.record(VariantName, v.unknown()),
    v.check((variants) => Object.keys(variants).length >= 1, "a flag has at least one variant"),
    v.check(
      (variants) => Object.keys(variants).length <= FLAG_LIMITS.variants,
      `a flag has at most ${FLAG_LIMITS.variants} variants`,
    ),
  ),
  default_variant: VariantName,
  enabled: v.optional(v.boolean("enabled must be a boolean"), true),
  rules: v.optional(
    v.pipe(v.array(FlagRule), v.maxLength(FLAG_LIMITS.rules, `a flag has at most ${FLAG_LIMITS.rules} rules`)),
    [],
  ),
  description: v.optional(
    v.pipe(
      v.string("description must be a string"),
      v.maxLength(FLAG_LIMITS.descriptionChars, `description is at most ${FLAG_LIMITS.descriptionChars} characters`),
    ),
    "",
  ),
  // Server-set fields a client may echo back from a GET; they are ignored on write.
  version: v.optional(v.string()),
  updated_at: v.optional(v.string()),
  updated_by: v.optional(v.string()),
});
export type FlagDefinitionInput = v.InferInput<typeof FlagDefinitionInput>;

/** A stored flag: the admin's definition plus what the registry sets on every write. */
export interface FlagDefinition {
  key: string;
  type: FlagType;
  variants: Record<string, JsonValue>;
  default_variant: string;
  enabled: boolean;
  rules: FlagRule[];
  description: string;
  /** The registry's version at this flag's last change (its ETag, quoted). */
  version: string;
  /** ISO 8601 time of the last change. */
  updated_at: string;
  /** The account (`sub`) of the admin who made it. */
  updated_by: string;
}

/** Body of `PUT /api/admin/flags/:key/overrides/:account`. */
export const FlagOverrideInput = v.strictObject({ variant: VariantName });
export type FlagOverrideInput = v.InferOutput<typeof FlagOverrideInput>;

/** One flag as the FlagSet carries it: its definition and its per-account overrides (account → variant). */
export interface FlagSetEntry {
  definition: FlagDefinition;
  overrides: Record<string, string>;
}

/**
 * Everything an isolate needs to evaluate every flag locally. `version` changes on every write
 * (strong: equal versions mean equal sets), so it keys caches and the bulk ETag.
 */
export interface FlagSet {
  version: string;
  flags: Record<string, FlagSetEntry>;
}

/** A value an evaluation context attribute may take (OpenFeature: boolean, string, number, structure). */
export type ContextValue = JsonValue;

/**
 * The OpenFeature evaluation context: who is asking (`targetingKey`) and facts about them. The
 * gateway builds it; derived attributes win over client-sent ones.
 */
export interface EvaluationContext {
  targetingKey?: string;
  [attribute: string]: ContextValue | undefined;
}

/** OFREP's success answer for one flag. */
export interface FlagEvaluationSuccess {
  key: string;
  value: JsonValue;
  reason: FlagReason;
  variant?: string;
  metadata?: Record<string, string | number | boolean>;
}

/** OFREP's error answer for one flag. */
export interface FlagEvaluationError {
  key: string;
  errorCode: FlagErrorCode;
  errorDetails?: string;
}

/** One flag's evaluation, as OFREP answers it. */
export type FlagEvaluation = FlagEvaluationSuccess | FlagEvaluationError;

/** True for an OFREP error answer. */
export function isFlagError(evaluation: FlagEvaluation): evaluation is FlagEvaluationError {
  return "errorCode" in evaluation;
}

/** Query of `GET /api/admin/flags/:key/history` as strings from the URL: newest first, `before` a `seq`. */
export interface FlagHistoryQuery {
  limit?: string;
  before?: string;
}

/** What a write did to a flag. */
export type FlagChangeAction = "put" | "delete" | "put_override" | "delete_override";

/** One entry of a flag's audit trail. */
export interface FlagHistoryEntry {
  /** Orders the entries (larger is later); the `before` cursor. */
  seq: number;
  key: string;
  action: FlagChangeAction;
  /** The override's account, for override writes. */
  account?: string;
  /** ISO 8601. */
  at: string;
  /** The admin's account (`sub`). */
  by: string;
  request_id: string;
  /** The flag (definition and overrides) before the change; null when it did not exist. */
  before: FlagSetEntry | null;
  /** After it; null when the change deleted the flag. */
  after: FlagSetEntry | null;
  /** The registry version the change produced. */
  version: string;
}

/** A page of history, newest first. `next` is the `before` cursor for the next page, if any. */
export interface FlagHistoryPage {
  entries: FlagHistoryEntry[];
  next: number | null;
}

/** One flag as the admin API answers it: the definition, its overrides and its ETag. */
export interface FlagRecord {
  flag: FlagDefinition;
  overrides: Record<string, string>;
  /** The strong, quoted ETag: `"<version>"`. */
  etag: string;
}

/** `GET /api/admin/flags`. */
export interface FlagList {
  flags: FlagRecord[];
  /** The registry's current version. */
  version: string;
}

/** The strong ETag for a version: `"<version>"`. */
export function flagEtag(version: string): string {
  return `"${version}"`;
}
