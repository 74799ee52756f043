import * as v from "valibot";
import { ServiceError } from "./errors";
import {
  FLAG_LIMITS,
  FlagAccount,
  type FlagDefinition,
  FlagDefinitionInput,
  FlagKey,
  FlagOverrideInput,
  type FlagType,
  type JsonValue,
} from "./flags";
import { type FieldIssue, parseInput } from "./validation";

/** A definition as an admin wrote it, checked, before the registry stamps version and author. */
export type CheckedFlagDefinition = Omit<FlagDefinition, "version" | "updated_at" | "updated_by">;

const encoder = new TextEncoder();

function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** True when `value` is a value of a flag of `type` (object: a JSON object, not an array or null). */
export function valueHasFlagType(value: unknown, type: FlagType): boolean {
  switch (type) {
    case "boolean":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
  }
}

function invalid(issues: FieldIssue[]): never {
  const first = issues[0] as FieldIssue;
  throw new ServiceError("invalid_input", `${first.path}: ${first.message}`, { issues });
}

/** Checks a flag key from a path; 400 `invalid_input` naming `key` otherwise. */
export function checkFlagKey(key: unknown): string {
  return parseInput(FlagKey, key);
}

/** Checks an override's account from a path. */
export function checkFlagAccount(account: unknown): string {
  return parseInput(FlagAccount, account);
}

/**
 * Validates a definition for flag `key`: its shape, then what the schema cannot see (every rule
 * and rollout names a variant that exists, rollout weights sum to 100, each variant's value is of
 * the flag's type and small, conditions carry the value their operator needs). Throws 400
 * `invalid_input` with every failing path.
 */
export function checkFlagDefinition(key: string, body: unknown): CheckedFlagDefinition {
  const input = parseInput(FlagDefinitionInput, body);
  const issues: FieldIssue[] = [];
  if (input.key !== undefined && input.key !== key) {
    issues.push({ path: "key", message: `key must equal the path's key ${key}` });
  }
  const variants = input.variants as Record<string, unknown>;
  for (const [name, value] of Object.entries(variants)) {
    if (!valueHasFlagType(value, input.type)) {
      issues.push({ path: `variants.${name}`, message: `value must be of the flag's type ${input.type}` });
    } else if (jsonBytes(value) > FLAG_LIMITS.variantJsonBytes) {
      issues.push({
        path: `variants.${name}`,
        message: `value is at most ${FLAG_LIMITS.variantJsonBytes} bytes as JSON`,
      });
    }
  }
  const known = (name: string) => Object.hasOwn(variants, name);
  if (!known(input.default_variant)) {
    issues.push({ path: "default_variant", message: `unknown variant ${input.default_variant}` });
  }
  input.rules.forEach((rule, r) => {
    const at = `rules.${r}`;
    if ((rule.variant === undefined) === (rule.rollout === undefined)) {
      issues.push({ path: at, message: "a rule has exactly one of variant and rollout" });
    }
    if (rule.variant !== undefined && !known(rule.variant)) {
      issues.push({ path: `${at}.variant`, message: `unknown variant ${rule.variant}` });
    }
    if (rule.rollout !== undefined) {
      let total = 0;
      rule.rollout.forEach((share, s) => {
        total += share.weight;
        if (!known(share.variant)) {
          issues.push({ path: `${at}.rollout.${s}.variant`, message: `unknown variant ${share.variant}` });
        }
      });
      if (total !== 100) issues.push({ path: `${at}.rollout`, message: `weights must sum to 100, not ${total}` });
    }
    (rule.when ?? []).forEach((condition, c) => {
      const path = `${at}.when.${c}.value`;
      const value = condition.value;
      switch (condition.op) {
        case "exists":
          if (value !== undefined) issues.push({ path, message: "exists takes no value" });
          break;
        case "in":
        case "not_in":
          if (!Array.isArray(value)) issues.push({ path, message: `${condition.op} needs a list of values` });
          break;
        case "starts_with":
        case "ends_with":
        case "contains":
          if (typeof value !== "string") issues.push({ path, message: `${condition.op} needs a string` });
          break;
        case "gt":
        case "gte":
        case "lt":
        case "lte":
          if (typeof value !== "number") issues.push({ path, message: `${condition.op} needs a number` });
          break;
        case "eq":
        case "neq":
          if (value === undefined || Array.isArray(value)) {
            issues.push({ path, message: `${condition.op} needs a string, number or boolean` });
          }
          break;
      }
    });
  });
  if (issues.length > 0) invalid(issues);
  return {
    key,
    type: input.type,
    variants: variants as Record<string, JsonValue>,
    default_variant: input.default_variant,
    enabled: input.enabled,
    rules: input.rules,
    description: input.description,
  };
}

/** Validates an override body against the flag it is for: its variant must be one of the flag's. */
export function checkFlagOverride(definition: Pick<FlagDefinition, "variants">, body: unknown): string {
  const { variant } = parseInput(FlagOverrideInput, body);
  if (!Object.hasOwn(definition.variants, variant)) {
    invalid([{ path: "variant", message: `unknown variant ${variant}` }]);
  }
  return variant;
}

/** Parses a history query (`?limit=&before=`). */
export function checkFlagHistoryQuery(query: unknown): { limit: number; before: number | null } {
  const parsed = parseInput(
    v.strictObject({
      limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/, "limit is 1-100"), v.transform(Number))),
      before: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "before is a seq"), v.transform(Number))),
    }),
    query ?? {},
  );
  const limit = parsed.limit ?? 50;
  if (limit < 1 || limit > 100) invalid([{ path: "limit", message: "limit is 1-100" }]);
  return { limit, before: parsed.before ?? null };
}
