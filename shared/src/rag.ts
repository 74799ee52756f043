import * as v from "valibot";

/** Largest document accepted for ingestion, in characters. */
export const MAX_DOC_CHARS = 2_000_000;

/** Body of `POST /api/rag/ingest`: inline `text` or an `upload_key`, not both. */
export const RagIngestRequest = v.pipe(
  v.strictObject({
    id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "id must be 1-128 of [A-Za-z0-9._:-]")),
    text: v.optional(
      v.pipe(
        v.string(),
        v.maxLength(MAX_DOC_CHARS, `text must be at most ${MAX_DOC_CHARS} characters`),
        v.check((text) => text.trim() !== "", "text must not be empty"),
      ),
    ),
    upload_key: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
    title: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(300))),
  }),
  v.check((body) => (body.text === undefined) !== (body.upload_key === undefined), "send either text or upload_key"),
);
export type RagIngestRequest = v.InferOutput<typeof RagIngestRequest>;

/** Body of `POST /api/rag/query`. */
export const RagQueryRequest = v.strictObject({
  query: v.pipe(v.string(), v.trim(), v.minLength(1, "query must not be empty"), v.maxLength(2000)),
  k: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(50)), 5),
});

/** One retrieved chunk, best first. `score` is higher for better matches. */
export interface RagResult {
  doc_id: string;
  chunk_id: string;
  snippet: string;
  score: number;
  text: string;
}

/** A document in a tenant's index. */
export interface RagDoc {
  id: string;
  title: string;
  source: "text" | "upload";
  chars: number;
  chunks: number;
  updated_at: string;
}
