import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

/** Documents above this many characters are ingested by a `rag.ingest` job rather than inline. */
export const INLINE_INGEST_MAX_CHARS = 100_000;

export function registerRagRoutes(router: GatewayRouter): void {
  /**
   * Ingests `{ id, text | upload_key, title? }`. Small documents are indexed before the answer
   * (200); large ones run as a `rag.ingest` job (202 with the job to poll).
   */
  router.post("/api/rag/ingest", async (_request, ctx) => {
    const identity = await ctx.identity();
    // Checked whether or not the document is large enough for a job to use it: one rule, every route.
    const key = ctx.idempotencyKey();
    const body = await ctx.json();
    const fields = typeof body === "object" && body !== null ? (body as { text?: unknown; upload_key?: unknown }) : {};
    let large = typeof fields.text === "string" && fields.text.length > INLINE_INGEST_MAX_CHARS;
    if (!large && typeof fields.upload_key === "string" && typeof fields.text !== "string") {
      large = (await ctx.env.UPLOADS.stat(identity, fields.upload_key, ctx.call)).size > INLINE_INGEST_MAX_CHARS;
    }
    if (large) {
      const { job } = await ctx.env.JOBS.create({ kind: "rag.ingest", input: body }, identity, key, ctx.call);
      return json({ queued: true, job }, 202);
    }
    return json(await ctx.env.RAG.ingest(identity, body, ctx.call));
  });

  /** `{ query, k }` → the best chunks of the caller's documents, best first. */
  router.post("/api/rag/query", async (_request, ctx) => {
    const identity = await ctx.identity();
    return json(await ctx.env.RAG.query(identity, await ctx.json(), ctx.call));
  });

  /** The caller's documents. */
  router.get("/api/rag/docs", async (_request, ctx) => json(await ctx.env.RAG.docs(await ctx.identity(), ctx.call)));

  /** Removes one of the caller's documents. */
  router.delete("/api/rag/docs/:id", async (request, ctx) => {
    return json(await ctx.env.RAG.remove(await ctx.identity(), pathParam(request, "id"), ctx.call));
  });
}
