import * as v from "valibot";
import { ServiceError } from "./errors";

const OBJECT_SCHEMAS = new Set(["object", "strict_object", "loose_object", "object_with_rest"]);

/** One failed check, addressed by a dotted field path (`messages.0.role`), `""` for the root. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Turns valibot issues into flat field paths a client can show next to its inputs. */
export function toFieldIssues(issues: readonly v.BaseIssue<unknown>[]): FieldIssue[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((item) => String(item.key)).join("."),
    message: issue.message,
  }));
}

/**
 * Validates `value` against `schema`, returning the typed output or throwing a ServiceError
 * `invalid_input` whose details list every failing field.
 */
export function parseInput<const TSchema extends v.GenericSchema>(
  schema: TSchema,
  value: unknown,
): v.InferOutput<TSchema> {
  // valibot's object schemas accept arrays (their keys are checked, not their kind); JSON bodies
  // must not be able to pass `[]` for `{}`.
  if (OBJECT_SCHEMAS.has(schema.type) && Array.isArray(value)) {
    throw new ServiceError("invalid_input", "expected a JSON object", {
      issues: [{ path: "", message: "expected a JSON object, received an array" }],
    });
  }
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issues = toFieldIssues(result.issues);
  const first = issues[0];
  const where = first?.path ? `${first.path}: ` : "";
  throw new ServiceError("invalid_input", `${where}${first?.message ?? "invalid input"}`, {
    issues,
  });
}
