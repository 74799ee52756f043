import murmurhash3js from "murmurhash3js";
import {
  type ContextValue,
  type EvaluationContext,
  FLAG_LIMITS,
  type FlagCondition,
  type FlagDefinition,
  type FlagErrorCode,
  type FlagEvaluation,
  type FlagEvaluationError,
  type FlagReason,
  type FlagRolloutShare,
  type FlagSet,
  type FlagType,
  type JsonValue,
} from "./flags";

const encoder = new TextEncoder();
// Printable ASCII is its own UTF-8: such input skips the encoding (anything else takes it).
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * MurmurHash3 x86 32-bit, seed 0, of the UTF-8 bytes of `input`: the hash flagd's `fractional`
 * uses. murmurhash3js reads one byte per UTF-16 code unit (`charCodeAt & 0xff`), so anything
 * beyond ASCII is handed over as a string of its UTF-8 bytes, one per character.
 */
export function flagdHash(input: string): number {
  if (PRINTABLE_ASCII.test(input)) return murmurhash3js.x86.hash32(input, 0);
  let bytes = "";
  for (const byte of encoder.encode(input)) bytes += String.fromCharCode(byte);
  return murmurhash3js.x86.hash32(bytes, 0);
}

/**
 * flagd's bucket for a 32-bit hash: ⌊hash × totalWeight / 2³²⌋, an integer in [0, totalWeight).
 * The product is below 2⁵³ and the division is by a power of two, so the float arithmetic is exact.
 */
export function fractionalBucket(hash: number, totalWeight: number): number {
  return Math.floor((hash * totalWeight) / 2 ** 32);
}

/**
 * The variant flagd's `fractional` picks for `flagKey + targetingKey` over `shares` (walked in
 * order, the first whose running sum of weights exceeds the bucket), or undefined when every
 * weight is zero.
 */
export function fractionalVariant(flagKey: string, targetingKey: string, shares: readonly FlagRolloutShare[]) {
  let total = 0;
  for (const share of shares) total += share.weight;
  if (total <= 0) return undefined;
  const bucket = fractionalBucket(flagdHash(`${flagKey}${targetingKey}`), total);
  let end = 0;
  for (const share of shares) {
    end += share.weight;
    if (bucket < end) return share.variant;
  }
  return undefined;
}

function attributeOf(context: EvaluationContext, attribute: string): ContextValue | undefined {
  return Object.hasOwn(context, attribute) ? context[attribute] : undefined;
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

/**
 * Whether one condition holds. An attribute that is absent or null satisfies nothing but
 * `exists` (so `neq` and `not_in` need the attribute to be there), and a value of the wrong kind
 * (a string for `gt`, a number for `starts_with`) does not hold either: neither is an error.
 */
export function conditionHolds(condition: FlagCondition, context: EvaluationContext): boolean {
  const actual = attributeOf(context, condition.attribute);
  if (condition.op === "exists") return actual !== undefined && actual !== null;
  if (!isScalar(actual)) return false;
  const expected = condition.value;
  switch (condition.op) {
    case "eq":
      return actual === expected;
    case "neq":
      return isScalar(expected) && actual !== expected;
    case "in":
      return Array.isArray(expected) && typeof actual !== "boolean" && expected.includes(actual);
    case "not_in":
      return Array.isArray(expected) && typeof actual !== "boolean" && !expected.includes(actual);
    case "starts_with":
      return typeof actual === "string" && typeof expected === "string" && actual.startsWith(expected);
    case "ends_with":
      return typeof actual === "string" && typeof expected === "string" && actual.endsWith(expected);
    case "contains":
      return typeof actual === "string" && typeof expected === "string" && actual.includes(expected);
    case "gt":
      return typeof actual === "number" && typeof expected === "number" && actual > expected;
    case "gte":
      return typeof actual === "number" && typeof expected === "number" && actual >= expected;
    case "lt":
      return typeof actual === "number" && typeof expected === "number" && actual < expected;
    case "lte":
      return typeof actual === "number" && typeof expected === "number" && actual <= expected;
  }
}

function failure(key: string, errorCode: FlagErrorCode, errorDetails: string): FlagEvaluationError {
  return { key, errorCode, errorDetails };
}

function answer(key: string, definition: FlagDefinition, variant: string, reason: FlagReason): FlagEvaluation {
  if (!Object.hasOwn(definition.variants, variant)) {
    // Writes are checked, so this is a set damaged in storage: say so rather than guess a value.
    return failure(key, "PARSE_ERROR", `flag ${key} names unknown variant ${variant}`);
  }
  return {
    key,
    value: definition.variants[variant] as JsonValue,
    reason,
    variant,
    metadata: { version: definition.version },
  };
}

function evaluateDefinition(set: FlagSet, key: string, context: EvaluationContext): FlagEvaluation {
  const entry = set.flags[key];
  if (entry === undefined) return failure(key, "FLAG_NOT_FOUND", `flag ${key} is not defined`);
  const definition = entry.definition;
  if (!definition.enabled) return answer(key, definition, definition.default_variant, "DISABLED");
  const targetingKey = typeof context.targetingKey === "string" ? context.targetingKey : "";
  if (targetingKey !== "" && Object.hasOwn(entry.overrides, targetingKey)) {
    return answer(key, definition, entry.overrides[targetingKey] as string, "TARGETING_MATCH");
  }
  if (definition.rules.length === 0) return answer(key, definition, definition.default_variant, "STATIC");
  for (const rule of definition.rules) {
    if (!(rule.when ?? []).every((condition) => conditionHolds(condition, context))) continue;
    if (rule.variant !== undefined) return answer(key, definition, rule.variant, "TARGETING_MATCH");
    if (targetingKey === "") {
      return failure(key, "TARGETING_KEY_MISSING", `flag ${key} rolls out by targetingKey and none was given`);
    }
    const picked = fractionalVariant(key, targetingKey, rule.rollout ?? []);
    if (picked === undefined) return failure(key, "PARSE_ERROR", `flag ${key} has a rollout with no weight`);
    return answer(key, definition, picked, "SPLIT");
  }
  return answer(key, definition, definition.default_variant, "DEFAULT");
}

/**
 * Evaluates one flag of `set` for `context` (checked with {@link checkEvaluationContext}): a
 * disabled flag answers its default (`DISABLED`); else an override for the targetingKey wins
 * (`TARGETING_MATCH`); a flag without rules answers its default (`STATIC`); else the first rule
 * whose conditions all hold yields its variant (`TARGETING_MATCH`) or its rollout's pick (`SPLIT`,
 * `TARGETING_KEY_MISSING` without a targetingKey); none holding gives the default (`DEFAULT`).
 * With `expectedType`, a flag of another type answers `TYPE_MISMATCH`. Touches no storage.
 */
export function evaluateFlag(
  set: FlagSet,
  key: string,
  context: EvaluationContext,
  expectedType?: FlagType,
): FlagEvaluation {
  try {
    if (!Object.hasOwn(set.flags, key)) return failure(key, "FLAG_NOT_FOUND", `flag ${key} is not defined`);
    const type = set.flags[key]?.definition.type;
    if (expectedType !== undefined && type !== expectedType) {
      return failure(key, "TYPE_MISMATCH", `flag ${key} is of type ${type}, not ${expectedType}`);
    }
    return evaluateDefinition(set, key, context);
  } catch {
    return failure(key, "GENERAL", `flag ${key} could not be evaluated`);
  }
}

/** Evaluates every flag of `set` (at most `FLAG_LIMITS.flags`), in key order. */
export function evaluateAll(set: FlagSet, context: EvaluationContext): FlagEvaluation[] {
  return Object.keys(set.flags)
    .sort()
    .map((key) => evaluateFlag(set, key, context));
}

/** A checked context, or why it is not one (OFREP's `INVALID_CONTEXT`). */
export type ContextCheck = { ok: true; context: EvaluationContext } | { ok: false; errorDetails: string };

/**
 * Checks a client-sent evaluation context: a JSON object (absent means empty) of at most
 * `FLAG_LIMITS.contextAttributes` attributes and `contextJsonBytes` bytes, string values (and
 * the targetingKey, which must be a string) at most `contextStringChars` characters.
 */
export function checkEvaluationContext(raw: unknown): ContextCheck {
  if (raw === undefined || raw === null) return { ok: true, context: {} };
  if (typeof raw !== "object" || Array.isArray(raw)) return { ok: false, errorDetails: "context must be an object" };
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > FLAG_LIMITS.contextAttributes) {
    return { ok: false, errorDetails: `context has at most ${FLAG_LIMITS.contextAttributes} attributes` };
  }
  if (encoder.encode(JSON.stringify(raw)).length > FLAG_LIMITS.contextJsonBytes) {
    return { ok: false, errorDetails: `context is at most ${FLAG_LIMITS.contextJsonBytes} bytes as JSON` };
  }
  const context: EvaluationContext = {};
  for (const [name, value] of entries) {
    if (name.length === 0 || name.length > 128) {
      return { ok: false, errorDetails: "attribute names are 1-128 characters" };
    }
    if (name === "targetingKey" && typeof value !== "string") {
      return { ok: false, errorDetails: "targetingKey must be a string" };
    }
    if (typeof value === "string" && value.length > FLAG_LIMITS.contextStringChars) {
      return { ok: false, errorDetails: `${name} is at most ${FLAG_LIMITS.contextStringChars} characters` };
    }
    if (typeof value === "number" && !Number.isFinite(value)) {
      return { ok: false, errorDetails: `${name} must be a finite number` };
    }
    // defineProperty, not assignment: an attribute named __proto__ must stay data.
    Object.defineProperty(context, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return { ok: true, context };
}
