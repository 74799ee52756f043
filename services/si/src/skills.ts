import type { Tier } from "@cognomega/shared";
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

/** The App Graph the scaffold worker builds apps from. */
export const AppGraph = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  description: v.optional(v.pipe(v.string(), v.maxLength(1000))),
  entities: v.array(
    v.strictObject({
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
      fields: v.array(
        v.strictObject({
          name: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
          type: v.picklist(["string", "number", "boolean", "date", "reference", "text", "image"]),
          required: v.optional(v.boolean()),
        }),
      ),
    }),
  ),
  screens: v.pipe(
    v.array(
      v.strictObject({
        id: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,63}$/)),
        title: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
        entity: v.optional(v.string()),
        components: v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
      }),
    ),
    v.minLength(1),
  ),
  navigation: v.array(v.strictObject({ from: v.string(), to: v.string(), label: v.optional(v.string()) })),
});
export type AppGraph = v.InferOutput<typeof AppGraph>;

const JSON_OBJECT = v.record(v.string(), v.unknown());

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
      "You design mobile and web apps. From the user's description, produce an App Graph as a single JSON object and nothing else:",
      '{"name": string, "description"?: string,',
      ' "entities": [{"name": string, "fields": [{"name": string, "type": "string"|"number"|"boolean"|"date"|"reference"|"text"|"image", "required"?: boolean}]}],',
      ' "screens": [{"id": kebab-case string, "title": string, "entity"?: entity name, "components": [string]}],',
      ' "navigation": [{"from": screen id, "to": screen id, "label"?: string}]}',
      "At least one screen. No code fences, no commentary.",
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
    .map((issue) => `${(issue.path ?? []).map((p) => String(p.key)).join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
  return { ok: false, problem };
}
