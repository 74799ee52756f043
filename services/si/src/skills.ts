import { AppGraph, appGraphPath, FIELD_TYPES, type Tier } from "@cognomega/shared";
import * as v from "valibot";

/** A named way of asking: a system prompt, a default tier, and optionally an output schema. */
export interface Skill {
  name: string;
  description: string;
  system: string;
  tier: Tier;
  /** When set, the answer must be JSON matching it (validated, with one repair attempt). */
  output?: v.GenericSchema;
}

const JSON_OBJECT = v.record(v.string(), v.unknown());

/** The App Graph the `app-graph` prompt shows as its example (a test keeps it valid). */
export const APP_GRAPH_EXAMPLE = {
  version: 1,
  name: "Plant Diary",
  entities: [
    {
      name: "Plant",
      fields: [
        { name: "name", type: "string", required: true, unique: true },
        { name: "kind", type: "enum", values: ["fern", "cactus"] },
      ],
    },
    {
      name: "Watering",
      fields: [
        { name: "plant", type: "reference", ref: "Plant", required: true },
        { name: "at", type: "datetime", required: true },
      ],
    },
  ],
  screens: [
    { id: "plants", title: "Plants", kind: "list", entity: "Plant" },
    { id: "water", title: "Water a plant", kind: "form", entity: "Watering" },
  ],
  navigation: [{ from: "plants", to: "water", label: "Water" }],
};

export const SKILLS: Record<string, Skill> = {
  general: {
    name: "general",
    description: "A helpful, concise assistant.",
    system: "You are Cognomega's assistant. Answer accurately and concisely. If you are unsure, say so.",
    tier: "small",
  },
  summarize: {
    name: "summarize",
    description: "Summarises the given text.",
    system:
      "Summarise the user's text faithfully in a few short sentences or bullet points. Keep names, numbers and conclusions. Add nothing that is not in the text.",
    tier: "small",
  },
  "extract-json": {
    name: "extract-json",
    description: "Extracts the requested facts as one JSON object.",
    system:
      "Extract the facts the user asks for from the text they give. Reply with a single JSON object and nothing else: no prose, no code fences. Use null for facts that are absent.",
    tier: "medium",
    output: JSON_OBJECT,
  },
  "app-graph": {
    name: "app-graph",
    description: "Designs an App Graph (entities, screens, navigation) for an app description.",
    system: [
      "You design small web apps backed by a database. From the user's description, produce an App Graph (version 1) as a single JSON object and nothing else:",
      '{"version": 1, "name": string (1-64 chars), "description"?: string,',
      ' "entities": [{"name": PascalCase, "fields": [{"name": camelCase,',
      `   "type": ${FIELD_TYPES.map((type) => `"${type}"`).join("|")},`,
      '   "required"?: boolean, "unique"?: boolean, "values"?: [string] (enum only), "ref"?: entity name (reference only)}]}],',
      ' "screens": [{"id": kebab-case, "title": string, "kind"?: "list"|"detail"|"form"|"dashboard", "entity"?: entity name, "components"?: [string]}],',
      ' "navigation"?: [{"from": screen id, "to": screen id, "label"?: string}]}',
      'Rules: 1 to 50 entities, each with 1 to 97 fields; at most 100 screens. Entity names are singular and unique; field names are unique within their entity; screen ids are unique and not "index".',
      'Every entity gets "id", "created_at" and "updated_at" automatically: never declare id, createdAt, updatedAt, rowid or oid fields.',
      'An "enum" field lists its "values"; a "reference" field names an existing entity in "ref" and holds that row\'s id; an "image" field holds an image URL. Only enum fields have values and only reference fields have ref; boolean and enum fields are never unique.',
      "Required references must not form a cycle (make one of them optional). Screens and navigation name only entities and screen ids that exist.",
      `Example: ${JSON.stringify(APP_GRAPH_EXAMPLE)}`,
      "No code fences, no commentary.",
    ].join("\n"),
    tier: "medium",
    output: AppGraph,
  },
};

/**
 * The body of the first code fence (```` ```json … ``` ````), or undefined without a closed one. The
 * same as `/```(?:json)?\s*([\s\S]*?)```/i`, which retried its lazy body from every whitespace
 * character after an unclosed fence: quadratic in an answer a prompt can steer.
 */
function fencedBody(text: string): string | undefined {
  const open = text.indexOf("```");
  if (open === -1) return undefined;
  let start = open + 3;
  if (text.slice(start, start + 4).toLowerCase() === "json") start += 4;
  while (start < text.length && WHITESPACE.test(text[start] as string)) start++;
  const close = text.indexOf("```", start);
  return close === -1 ? undefined : text.slice(start, close);
}

const WHITESPACE = /\s/;

/** Pulls the JSON value out of a model's answer, tolerating code fences and leading prose. */
export function extractJson(text: string): unknown {
  const candidate = (fencedBody(text) ?? text).trim();
  try {
    return JSON.parse(candidate);
  } catch {
    const start = candidate.search(/[[{]/);
    const end = Math.max(candidate.lastIndexOf("}"), candidate.lastIndexOf("]"));
    if (start >= 0 && end > start) return JSON.parse(candidate.slice(start, end + 1));
    throw new SyntaxError("no JSON found in the answer");
  }
}

/** Validates an answer against a skill's schema: the parsed value, or the problems found. */
export function checkOutput(skill: Skill, text: string): { ok: true; data: unknown } | { ok: false; problem: string } {
  if (!skill.output) return { ok: true, data: undefined };
  let value: unknown;
  try {
    value = extractJson(text);
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message : "not JSON" };
  }
  const result = v.safeParse(skill.output, value);
  if (result.success) return { ok: true, data: result.output };
  const problem = result.issues
    .slice(0, 5)
    .map((issue) => `${appGraphPath(issue.path) || "(root)"}: ${issue.message}`)
    .join("; ");
  return { ok: false, problem };
}
