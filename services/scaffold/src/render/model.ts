import { type AppGraph, type AppGraphField, entityCollection, type FieldType } from "@cognomega/shared";

/**
 * The exact versions of this repository's toolchain (root package.json), pinned in every generated
 * project so a downloaded app runs on what Cognomega itself is tested with. A test compares them.
 */
export const TOOLCHAIN_VERSIONS = {
  "@cloudflare/vitest-pool-workers": "0.15.1",
  "@cloudflare/workers-types": "4.20260426.1",
  typescript: "5.9.3",
  vite: "7.3.8",
  vitest: "4.1.12",
  wrangler: "4.86.0",
} as const;

/** The generated worker's compatibility date (the newest this toolchain's workerd supports well). */
export const COMPATIBILITY_DATE = "2026-04-21";

/** One field as the generated project sees it. `ref` is the referenced entity's name. */
export interface FieldModel {
  name: string;
  type: FieldType;
  required: boolean;
  unique: boolean;
  values?: string[];
  ref?: string;
}

/** One entity: its table (the entity name, always quoted) and its collection path segment. */
export interface EntityModel {
  name: string;
  table: string;
  /** Plural kebab-case: the API lives at `/api/<path>`. */
  path: string;
  fields: FieldModel[];
}

/** What the templates render from: a checked graph, with every derived name computed once. */
export interface ProjectModel {
  graph: AppGraph;
  /** The npm package and Worker name: lower-case kebab, 1–63 characters. */
  slug: string;
  title: string;
  entities: EntityModel[];
}

function fieldModel(field: AppGraphField): FieldModel {
  const model: FieldModel = {
    name: field.name,
    type: field.type,
    required: field.required === true,
    unique: field.unique === true,
  };
  if (field.type === "enum" && field.values) model.values = [...field.values];
  if (field.type === "reference" && field.ref) model.ref = field.ref;
  return model;
}

/** A Worker / npm name from the app's name: `Plant Diary!` → `plant-diary`; `app` when nothing is left. */
export function projectSlug(name: string): string {
  const words = name.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const slug = words.join("-").slice(0, 63).replace(/-+$/, "");
  return slug === "" ? "app" : slug;
}

/** The model of a graph that already passed {@link parseAppGraph}. */
export function projectModel(graph: AppGraph): ProjectModel {
  return {
    graph,
    slug: projectSlug(graph.name),
    title: graph.name,
    entities: graph.entities.map((entity) => ({
      name: entity.name,
      table: entity.name,
      path: entityCollection(entity.name),
      fields: entity.fields.map(fieldModel),
    })),
  };
}

/** A double-quoted SQL identifier: keywords (`"Order"`, `"select"`) are safe inside quotes. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A single-quoted SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for HTML content and attribute values. */
export function html(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] as string);
}

/** JSON safe to embed in a `<script>` element or a JS/TS source file (no `</script>`, no line separators). */
export function embedJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
