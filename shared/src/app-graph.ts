import * as v from "valibot";
import { ServiceError } from "./errors";

/**
 * The App Graph (v1): what the `app-graph` skill produces and the scaffold worker renders into a
 * Workers + D1 project. Every entity also gets a generated `id`, `created_at` and `updated_at`.
 */

/**
 * Limits of one graph. Every loop over a graph is bounded by them. 97 fields, because D1 allows a
 * table 100 columns and a query 100 bound parameters, and every table adds id, created_at and
 * updated_at (an insert binds them all).
 */
export const APP_GRAPH_LIMITS = {
  entities: 50,
  fieldsPerEntity: 97,
  screens: 100,
  navigation: 500,
  enumValues: 100,
  componentsPerScreen: 50,
  nameChars: 64,
  titleChars: 100,
  descriptionChars: 1000,
  enumValueChars: 100,
} as const;

/** The field types an entity may have. `image` holds an http(s) URL of the image. */
export const FIELD_TYPES = [
  "string",
  "text",
  "integer",
  "number",
  "boolean",
  "date",
  "datetime",
  "email",
  "url",
  "enum",
  "reference",
  "image",
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** What a screen shows. */
export const SCREEN_KINDS = ["list", "detail", "form", "dashboard"] as const;
export type ScreenKind = (typeof SCREEN_KINDS)[number];

// Linear patterns: no two parts of one can match the same character, so nothing backtracks.
const PASCAL_CASE = /^[A-Z][A-Za-z0-9]*$/;
const CAMEL_CASE = /^[a-z][A-Za-z0-9]*$/;
const KEBAB_CASE = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

const L = APP_GRAPH_LIMITS;
const text = (max: number, what: string) =>
  v.pipe(v.string(`${what} must be a string`), v.minLength(1, `${what} must not be empty`), v.maxLength(max));
const named = (pattern: RegExp, style: string, what: string) =>
  v.pipe(
    v.string(`${what} must be a string`),
    v.maxLength(L.nameChars, `${what} is longer than ${L.nameChars} characters`),
    v.regex(pattern, `${what} must be ${style}`),
  );

// Enum values become SQL string literals and HTML text: no NULs, line breaks or other controls.
function printable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/** One field of an entity. `values` is for `enum` fields, `ref` (an entity name) for `reference` fields. */
export const AppGraphField = v.strictObject({
  name: named(CAMEL_CASE, "camelCase", "a field name"),
  type: v.picklist(FIELD_TYPES, `type must be one of ${FIELD_TYPES.join(", ")}`),
  required: v.optional(v.boolean()),
  unique: v.optional(v.boolean()),
  values: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          text(L.enumValueChars, "an enum value"),
          v.check(printable, "an enum value must not contain control characters"),
        ),
      ),
      v.maxLength(L.enumValues),
    ),
  ),
  ref: v.optional(v.pipe(v.string(), v.maxLength(L.nameChars))),
});
export type AppGraphField = v.InferOutput<typeof AppGraphField>;

/** One stored kind of thing (a table, and an API collection). */
export const AppGraphEntity = v.strictObject({
  name: named(PASCAL_CASE, "PascalCase", "an entity name"),
  fields: v.pipe(
    v.array(AppGraphField),
    v.minLength(1, "an entity needs at least one field"),
    v.maxLength(L.fieldsPerEntity, `at most ${L.fieldsPerEntity} fields per entity`),
  ),
});
export type AppGraphEntity = v.InferOutput<typeof AppGraphEntity>;

/** One page of the app. */
export const AppGraphScreen = v.strictObject({
  id: named(KEBAB_CASE, "kebab-case", "a screen id"),
  title: text(L.titleChars, "a screen title"),
  kind: v.optional(v.picklist(SCREEN_KINDS, `kind must be one of ${SCREEN_KINDS.join(", ")}`)),
  entity: v.optional(v.pipe(v.string(), v.maxLength(L.nameChars))),
  components: v.optional(v.pipe(v.array(text(L.nameChars, "a component")), v.maxLength(L.componentsPerScreen))),
});
export type AppGraphScreen = v.InferOutput<typeof AppGraphScreen>;

/** A link from one screen to another. */
export const AppGraphLink = v.strictObject({
  from: v.pipe(v.string(), v.maxLength(L.nameChars)),
  to: v.pipe(v.string(), v.maxLength(L.nameChars)),
  label: v.optional(text(L.titleChars, "a label")),
});
export type AppGraphLink = v.InferOutput<typeof AppGraphLink>;

/** The App Graph's structure alone, without the integrity pass ({@link AppGraph} has both). */
export const AppGraphShape = v.strictObject({
  version: v.literal(1, "version must be 1"),
  name: text(L.nameChars, "name"),
  description: v.optional(v.pipe(v.string(), v.maxLength(L.descriptionChars))),
  entities: v.pipe(
    v.array(AppGraphEntity),
    v.minLength(1, "an app needs at least one entity"),
    v.maxLength(L.entities, `at most ${L.entities} entities`),
  ),
  screens: v.pipe(v.array(AppGraphScreen), v.maxLength(L.screens, `at most ${L.screens} screens`)),
  navigation: v.optional(v.pipe(v.array(AppGraphLink), v.maxLength(L.navigation))),
});

/** A valid App Graph v1. */
export type AppGraph = v.InferOutput<typeof AppGraphShape>;

/** One problem in a graph, addressed by its path (`entities[2].fields[0].ref`; `""` is the root). */
export interface AppGraphIssue {
  path: string;
  message: string;
}

/**
 * Field names the renderer cannot give a user field. SQL keywords and JS reserved words are NOT here:
 * they are escaped, not refused (every SQL identifier is double-quoted and a name only ever appears
 * in generated JS as a string literal), so `select`, `order` or `class` are fine. What quoting cannot
 * fix is refused: the generated columns (`id`, `created_at`, `updated_at` and their camelCase twins,
 * which would mean two keys for one fact), SQLite's rowid aliases, and Object.prototype members,
 * which read as present on every plain object.
 */
const RESERVED_FIELD_NAMES = new Set([
  "id",
  "createdat",
  "updatedat",
  "rowid",
  "oid",
  "constructor",
  "prototype",
  "tostring",
  "tolocalestring",
  "valueof",
  "hasownproperty",
  "isprototypeof",
  "propertyisenumerable",
]);

/** Pages are served at `/<id>`: `index` is the generated home page and `/api` is the API's own index. */
const RESERVED_SCREEN_IDS = new Set(["index", "api"]);

/** The collection path segment of an entity: plural kebab-case (`PlantEvent` → `plant-events`). */
export function entityCollection(name: string): string {
  const kebab = name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
  return pluralize(kebab);
}

function pluralize(word: string): string {
  if (/(?:s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

type Push = (path: string, message: string) => void;

function duplicates<T>(
  items: readonly T[],
  key: (item: T) => string,
  path: (index: number) => string,
  what: string,
  push: Push,
) {
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const k = key(item).toLowerCase();
    const first = seen.get(k);
    if (first === undefined) seen.set(k, index);
    else push(path(index), `duplicate ${what} "${key(item)}" (the same as ${path(first)}, case-insensitively)`);
  });
}

function checkField(field: AppGraphField, at: string, entityNames: Set<string>, push: Push) {
  if (RESERVED_FIELD_NAMES.has(field.name.toLowerCase()))
    push(
      `${at}.name`,
      `"${field.name}" is reserved (generated columns id, created_at, updated_at; rowid; Object members)`,
    );
  if (field.type === "enum") {
    if (field.values === undefined || field.values.length === 0)
      push(`${at}.values`, "an enum field needs a non-empty list of values");
    else
      duplicates(
        field.values,
        (value) => value,
        (i) => `${at}.values[${i}]`,
        "enum value",
        push,
      );
  } else if (field.values !== undefined) {
    push(`${at}.values`, `values are only for enum fields, not ${field.type}`);
  }
  if (field.type === "reference") {
    if (field.ref === undefined) push(`${at}.ref`, "a reference field needs ref, the name of an entity");
    else if (!entityNames.has(field.ref)) push(`${at}.ref`, `unknown entity "${field.ref}"`);
  } else if (field.ref !== undefined) {
    push(`${at}.ref`, `ref is only for reference fields, not ${field.type}`);
  }
  // A unique boolean or enum column holds at most a handful of rows: almost surely a mistake.
  if (field.unique === true && (field.type === "boolean" || field.type === "enum"))
    push(`${at}.unique`, `a ${field.type} field cannot be unique (it would allow only a few rows)`);
}

/** D1's longest SQL statement, in bytes, less room for the migration's header comment. */
const MAX_TABLE_SQL_BYTES = 100_000 - 512;
const utf8 = new TextEncoder();

/**
 * An upper bound on the UTF-8 bytes of an entity's `CREATE TABLE` as the scaffold renders it: the
 * quoted columns with their constraints, each enum's CHECK list (quotes doubled), the foreign keys.
 * A test holds the renderer to it.
 */
export function tableSqlBytesBound(entity: AppGraphEntity): number {
  let bytes = 2 * entity.name.length + 160;
  for (const field of entity.fields) {
    bytes += 2 * field.name.length + 64;
    if (field.ref !== undefined) bytes += field.name.length + field.ref.length + 48;
    for (const value of field.values ?? []) bytes += utf8.encode(value).byteLength + value.split("'").length + 3;
  }
  return bytes;
}

/** Reports one edge of every cycle of required references: no row of such a cycle could ever be created. */
function checkRequiredCycles(graph: AppGraph, push: Push) {
  const index = new Map(graph.entities.map((entity, i) => [entity.name, i]));
  const state = new Array<0 | 1 | 2>(graph.entities.length).fill(0);
  // Iterative DFS: at most 50 entities × 97 fields edges, no recursion on client data.
  for (let start = 0; start < graph.entities.length; start++) {
    if (state[start] !== 0) continue;
    const stack: { entity: number; field: number }[] = [{ entity: start, field: 0 }];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { entity: number; field: number };
      const fields = (graph.entities[top.entity] as AppGraphEntity).fields;
      if (top.field >= fields.length) {
        state[top.entity] = 2;
        stack.pop();
        continue;
      }
      const fieldIndex = top.field++;
      const field = fields[fieldIndex] as AppGraphField;
      if (field.type !== "reference" || field.required !== true || field.ref === undefined) continue;
      const target = index.get(field.ref);
      if (target === undefined) continue;
      if (state[target] === 1)
        push(
          `entities[${top.entity}].fields[${fieldIndex}].required`,
          `a cycle of required references back to ${field.ref}: no row of it could ever be created (make one optional)`,
        );
      else if (state[target] === 0) {
        state[target] = 1;
        stack.push({ entity: target, field: 0 });
      }
    }
  }
}

/**
 * The integrity pass over a structurally valid graph: unknown `ref`s, `values` on a non-enum or
 * missing on an enum, unknown screen entities and navigation ends, duplicate names and ids
 * (case-insensitively, as SQLite compares identifiers), names that collide in the generated project
 * (reserved field names, two entities with one API path, the `index` page), unique boolean/enum fields,
 * cycles of required references and tables past D1's statement limit. SQL keywords and JS reserved words are escaped, not refused
 * (see RESERVED_FIELD_NAMES). Returns every issue found, each with its path; `[]` when sound.
 */
export function checkAppGraph(graph: AppGraph): AppGraphIssue[] {
  const issues: AppGraphIssue[] = [];
  const push: Push = (path, message) => issues.push({ path, message });
  const entityNames = new Set(graph.entities.map((entity) => entity.name));

  duplicates(
    graph.entities,
    (e) => e.name,
    (i) => `entities[${i}].name`,
    "entity name",
    push,
  );
  // Distinct names can still share a collection path (`Bus` and `Buse` are both /api/buses).
  const reported = new Set(issues.map((issue) => issue.path));
  duplicates(
    graph.entities,
    (e) => `/api/${entityCollection(e.name)}`,
    (i) => `entities[${i}].name`,
    "API path",
    (path, message) => {
      if (!reported.has(path)) push(path, message);
    },
  );
  graph.entities.forEach((entity, e) => {
    duplicates(
      entity.fields,
      (f) => f.name,
      (i) => `entities[${e}].fields[${i}].name`,
      "field name",
      push,
    );
    entity.fields.forEach((field, f) => {
      checkField(field, `entities[${e}].fields[${f}]`, entityNames, push);
    });
    // Its enum CHECKs are the one part of a table that grows with the graph's text.
    const bytes = tableSqlBytesBound(entity);
    if (bytes > MAX_TABLE_SQL_BYTES)
      push(
        `entities[${e}].fields`,
        `its table would be up to ${bytes} bytes of SQL, past D1's 100,000-byte statement limit: use fewer or shorter enum values`,
      );
  });
  checkRequiredCycles(graph, push);

  const screenIds = new Set(graph.screens.map((screen) => screen.id));
  duplicates(
    graph.screens,
    (s) => s.id,
    (i) => `screens[${i}].id`,
    "screen id",
    push,
  );
  graph.screens.forEach((screen, s) => {
    if (RESERVED_SCREEN_IDS.has(screen.id))
      push(`screens[${s}].id`, `"${screen.id}" is reserved (the home page and the API)`);
    if (screen.entity !== undefined && !entityNames.has(screen.entity))
      push(`screens[${s}].entity`, `unknown entity "${screen.entity}"`);
  });
  (graph.navigation ?? []).forEach((link, n) => {
    if (!screenIds.has(link.from)) push(`navigation[${n}].from`, `unknown screen "${link.from}"`);
    if (!screenIds.has(link.to)) push(`navigation[${n}].to`, `unknown screen "${link.to}"`);
  });
  return issues;
}

/** A valibot path as `entities[2].fields[0].ref`. */
export function appGraphPath(path: readonly { key: unknown }[] | undefined): string {
  let out = "";
  for (const item of path ?? []) {
    out += typeof item.key === "number" ? `[${item.key}]` : `${out === "" ? "" : "."}${String(item.key)}`;
  }
  return out;
}

// The integrity issues as valibot issues, with real path items so the SI skill's repair prompt and
// {@link parseAppGraph} name the same paths.
function pathItems(graph: AppGraph, path: string): v.IssuePathItem[] {
  const items: v.IssuePathItem[] = [];
  let input: unknown = graph;
  for (const [, key, index] of path.matchAll(/([A-Za-z]+)|\[(\d+)\]/g)) {
    const k = key ?? Number(index);
    const value = (input as Record<string | number, unknown>)[k];
    items.push(
      typeof k === "number"
        ? { type: "array", origin: "value", input: input as unknown[], key: k, value }
        : { type: "object", origin: "value", input: input as Record<string, unknown>, key: k, value },
    );
    input = value;
  }
  return items;
}

/** The App Graph v1 schema with its integrity pass: what the SI skill's answer and any client's graph must match. */
export const AppGraph = v.pipe(
  AppGraphShape,
  v.rawCheck(({ dataset, addIssue }) => {
    // Only a graph without structural issues is checked: the pass indexes into what the schema vouched for.
    if (!dataset.typed || dataset.issues !== undefined) return;
    for (const issue of checkAppGraph(dataset.value))
      addIssue({ message: issue.message, path: pathItems(dataset.value, issue.path) as [v.IssuePathItem] });
  }),
);

/**
 * Parses and integrity-checks a graph from any client. Throws `ServiceError("invalid_input")` with
 * `details.issues` (every schema issue, or, for a well-formed graph, every integrity issue).
 */
export function parseAppGraph(input: unknown): AppGraph {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    throw new ServiceError("invalid_input", "the App Graph must be a JSON object", {
      issues: [{ path: "", message: "expected a JSON object" }],
    });
  const result = v.safeParse(AppGraph, input);
  if (result.success) return result.output;
  const issues: AppGraphIssue[] = result.issues.map((issue) => ({
    path: appGraphPath(issue.path),
    message: issue.message,
  }));
  const first = issues[0] as AppGraphIssue;
  throw new ServiceError("invalid_input", `${first.path ? `${first.path}: ` : ""}${first.message}`, { issues });
}
