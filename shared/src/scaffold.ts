import * as v from "valibot";
import type { AppGraph } from "./app-graph";
import { toHex } from "./digest";
import { ROUTING_POLICIES, type TokenUsage } from "./si";
import { MODEL_ID_MAX_LENGTH } from "./usage";

/** Longest prompt `POST /api/scaffold/graph` takes: an app description, not a document. */
export const MAX_SCAFFOLD_PROMPT_CHARS = 8_000;

/**
 * Body of `POST /api/scaffold/graph` and `POST /api/scaffold`, and the input of a `scaffold.generate`
 * job: an app description, optionally with the model or routing policy to design it with.
 */
export const ScaffoldGraphRequest = v.strictObject({
  prompt: v.pipe(
    v.string("prompt must be a string"),
    v.minLength(1, "prompt must not be empty"),
    v.maxLength(MAX_SCAFFOLD_PROMPT_CHARS, `prompt is longer than ${MAX_SCAFFOLD_PROMPT_CHARS} characters`),
  ),
  model: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MODEL_ID_MAX_LENGTH))),
  policy: v.optional(v.picklist(ROUTING_POLICIES, "policy must be cheapest, fastest or balanced")),
});
export type ScaffoldGraphRequest = v.InferOutput<typeof ScaffoldGraphRequest>;

/** Body of `POST /api/scaffold/render`. The graph itself is checked by {@link AppGraph}'s parser. */
export const ScaffoldRenderRequest = v.strictObject({ graph: v.unknown() });

/** Most scaffolds one page of `GET /api/scaffold` holds, and how many it holds by default. */
export const SCAFFOLD_PAGE_MAX = 100;
export const SCAFFOLD_PAGE_DEFAULT = 20;

/** A scaffold id: a UUID v7, lower-case, exactly (it becomes part of a storage key). */
export const SCAFFOLD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** `GET /api/scaffold` query: `limit` (1–100) and `cursor` (the last id of the previous page). */
export const ScaffoldListQuery = v.object({
  limit: v.optional(
    v.union(
      [
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(SCAFFOLD_PAGE_MAX)),
        v.pipe(
          v.string(),
          v.regex(/^[0-9]{1,3}$/, "limit must be a whole number"),
          v.toNumber(),
          v.minValue(1),
          v.maxValue(SCAFFOLD_PAGE_MAX),
        ),
      ],
      `limit must be 1-${SCAFFOLD_PAGE_MAX}`,
    ),
  ),
  cursor: v.optional(v.pipe(v.string(), v.regex(SCAFFOLD_ID, "cursor must be a scaffold id from a previous page"))),
});
export type ScaffoldListQuery = v.InferInput<typeof ScaffoldListQuery>;

/**
 * A UUID v7 from a millisecond time and 10 or more further bytes (random for a new scaffold, a
 * digest for one a job must render under the same id on every attempt).
 */
export function uuidV7(ms: number, rest: Uint8Array): string {
  const bytes = new Uint8Array(16);
  bytes.set(rest.subarray(0, 10), 6);
  let time = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256;
    time = Math.floor(time / 256);
  }
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const h = toHex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** What a render produced: the project's entities, its files and its archive, each with a SHA-256. */
export interface ScaffoldManifest {
  id: string;
  name: string;
  entities: { name: string; path: string }[];
  files: { path: string; bytes: number; sha256: string }[];
  archive: { bytes: number; sha256: string };
  /** Where the zip downloads from (`GET`, the gateway's path). */
  download: string;
}

/** One stored scaffold: its manifest, the graph it was rendered from, and when. */
export interface ScaffoldRecord extends ScaffoldManifest {
  graph: AppGraph;
  created_at: string;
}

/** One entry of `GET /api/scaffold`: enough to show and download it, without files or graph. */
export interface ScaffoldSummary {
  id: string;
  name: string;
  archive: { bytes: number; sha256: string };
  created_at: string;
  download: string;
}

/** A page of the caller's scaffolds, oldest first; `cursor` is there when more follow. */
export interface ScaffoldPage {
  scaffolds: ScaffoldSummary[];
  cursor?: string;
}

/** The App Graph the `app-graph` skill designed, with what the ask cost. */
export interface ScaffoldGraphResult {
  graph: AppGraph;
  usage: TokenUsage;
  credits_used: number;
  balance: number;
  provider: string;
  model: string;
  request_id: string;
}

/** What a `scaffold.generate` job leaves as its result. */
export interface ScaffoldJobResult {
  scaffold_id: string;
  name: string;
  download: string;
  archive: { bytes: number; sha256: string };
  credits_used: number;
}
