import {
  type CallContext,
  gateFor,
  type Identity,
  identityFlagContext,
  logEvent,
  parseInput,
  type RagDoc,
  RagIngestRequest,
  RagQueryRequest,
  type RagResult,
  ServiceError,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { chunkText } from "./chunker";
import { ragSettings } from "./config";
import type { QuotaRefusal, ReplaceResult } from "./index-do";
import { EmbeddingCharge } from "./metering";
import { EmbeddingFailure, embed, hybrid, namespaceOf, reciprocalRankFusion, vectorId } from "./vectors";

/** Most chunks one document may become (about 6 MB of text). */
const MAX_CHUNKS = 5000;
/** Largest upload read for ingestion. */
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;

/**
 * Ingestion and retrieval over each tenant's documents. BM25 over SQLite FTS5 always; with the AI
 * binding and a Vectorize index, and `rag.hybrid` on for the tenant, embeddings too, fused with
 * BM25 by reciprocal rank.
 */
export class RagService extends MeshEntrypoint<RagEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "rag"; ok: true }> {
    return { service: "rag", ok: true };
  }

  private index(identity: Identity) {
    return this.env.TENANT_INDEX.get(this.env.TENANT_INDEX.idFromName(identity.sub));
  }

  /**
   * Embeddings and Vectorize for this tenant: only when both are bound and `rag.hybrid` is on for
   * it. Off, nothing is embedded or charged and retrieval is BM25 alone. Without the bindings the
   * flag is not read at all (offline there is nothing it could switch on).
   */
  private async vectors(identity: Identity, call: CallContext): Promise<ReturnType<typeof hybrid>> {
    const vector = hybrid(this.env);
    if (!vector) return undefined;
    const on = await gateFor(
      this.env.FLAGS,
      this.env.FLAGS_CACHE_TTL_SECONDS,
      "rag.hybrid",
      identityFlagContext(identity),
      call,
    );
    return on ? vector : undefined;
  }

  /**
   * Ingests text or markdown, given inline or as one of the caller's uploads: chunked by headings
   * and size, indexed for BM25 (and embedded when available). Re-ingesting an id replaces it.
   */
  async ingest(
    identity: Identity,
    input: unknown,
    call: CallContext,
  ): Promise<{ id: string; title: string; chunks: number; chars: number; replaced: boolean; embedded: boolean }> {
    const body = parseInput(RagIngestRequest, input);
    let text = body.text;
    let source: "text" | "upload" = "text";
    let title = body.title;
    if (body.upload_key !== undefined) {
      const file = await this.env.UPLOADS.readText(identity, body.upload_key, MAX_UPLOAD_BYTES, call);
      text = file.text;
      source = "upload";
      title ??= file.filename;
    }
    if (!text || text.trim() === "")
      throw new ServiceError("invalid_input", "the document is empty", {
        issues: [{ path: "text", message: "empty" }],
      });
    const chunks = chunkText(text);
    if (chunks.length > MAX_CHUNKS)
      throw new ServiceError("payload_too_large", `the document makes more than ${MAX_CHUNKS} chunks`, {
        limit: MAX_CHUNKS,
      });
    const settings = ragSettings(this.env);
    const texts = chunks.map((c) => (c.heading ? `${c.heading}\n${c.text}` : c.text));
    const vector = await this.vectors(identity, call);
    // The worst case is held before anything is written or embedded: short of credits, nothing happens.
    const charge = vector
      ? await EmbeddingCharge.hold(this.env.BILLING, identity, texts, settings.embeddingPricePerM, call)
      : undefined;
    let replaced: ({ ok: true } & ReplaceResult) | ({ ok: false } & QuotaRefusal);
    try {
      replaced = await this.index(identity).replace(
        body.id,
        title || body.id,
        source,
        text.length,
        chunks,
        Date.now(),
        {
          docs: settings.quotaDocs,
          chunks: settings.quotaChunks,
        },
      );
    } catch (error) {
      await charge?.void();
      throw error;
    }
    if (!replaced.ok) {
      await charge?.void();
      const { quota, limit, used, requested } = replaced;
      throw new ServiceError(
        "quota_exceeded",
        quota === "rag_docs"
          ? `a tenant may keep at most ${limit} documents; delete one first`
          : `a tenant may keep at most ${limit} chunks over all documents; ${used} are used and this document makes ${requested}`,
        { quota, limit, used, requested },
      );
    }
    const { previous, chunkIds } = replaced;
    const embedded =
      vector && charge ? await this.embedChunks(identity, vector, charge, previous, chunkIds, texts, call) : false;
    if (!vector) await this.dropVectors(identity, previous, call);
    return {
      id: body.id,
      title: title || body.id,
      chunks: chunks.length,
      chars: text.length,
      replaced: previous.length > 0,
      embedded,
    };
  }

  /**
   * Embeds a document's chunks into Vectorize and settles their charge. A failure leaves BM25 with
   * the document; only what was embedded before it is charged.
   */
  private async embedChunks(
    identity: Identity,
    vector: NonNullable<ReturnType<typeof hybrid>>,
    charge: EmbeddingCharge,
    previous: string[],
    chunkIds: string[],
    texts: string[],
    call: CallContext,
  ): Promise<boolean> {
    let values: number[][];
    try {
      const stale = previous.filter((id) => !chunkIds.includes(id));
      if (stale.length > 0)
        await vector.index.deleteByIds(await Promise.all(stale.map((id) => vectorId(identity.sub, id))));
      values = await embed(vector.ai, texts);
    } catch (error) {
      // BM25 already has the document; embeddings are an improvement, not a condition.
      await charge.settle(texts.slice(0, error instanceof EmbeddingFailure ? error.embedded : 0));
      logEvent("warn", "embedding failed; BM25 only", { request_id: call.requestId, error });
      return false;
    }
    // Embedded means paid for, whether or not Vectorize then keeps the vectors.
    await charge.settle(texts);
    try {
      const namespace = await namespaceOf(identity.sub);
      const vectors = await Promise.all(
        chunkIds.map(async (chunkId, i) => ({
          id: await vectorId(identity.sub, chunkId),
          values: values[i] as number[],
          namespace,
          metadata: { chunk_id: chunkId },
        })),
      );
      for (let i = 0; i < vectors.length; i += 1000) await vector.index.upsert(vectors.slice(i, i + 1000));
      return true;
    } catch (error) {
      logEvent("warn", "vector upsert failed; BM25 only", { request_id: call.requestId, error });
      return false;
    }
  }

  /**
   * Removes the vectors of chunks a document no longer has embedded (replaced while `rag.hybrid` was
   * off, or deleted), so that turning it back on never matches text that is gone. Deleting costs
   * nothing; a failure leaves vectors the query path skips.
   */
  private async dropVectors(identity: Identity, chunkIds: string[], call: CallContext): Promise<void> {
    const bound = hybrid(this.env);
    if (!bound || chunkIds.length === 0) return;
    try {
      await bound.index.deleteByIds(await Promise.all(chunkIds.map((c) => vectorId(identity.sub, c))));
    } catch (error) {
      logEvent("warn", "vector delete failed", { request_id: call.requestId, error });
    }
  }

  /** The best `k` chunks for a query, best first, each with a snippet and a score. */
  async query(
    identity: Identity,
    input: unknown,
    call: CallContext,
  ): Promise<{ results: RagResult[]; mode: "bm25" | "hybrid" }> {
    const { query, k } = parseInput(RagQueryRequest, input);
    const index = this.index(identity);
    const lexical = await index.search(query, Math.max(k, 20));
    const vector = await this.vectors(identity, call);
    if (!vector) return { results: lexical.slice(0, k), mode: "bm25" };
    const charge = await EmbeddingCharge.hold(
      this.env.BILLING,
      identity,
      [query],
      ragSettings(this.env).embeddingPricePerM,
      call,
    );
    let embedding: number[] | undefined;
    try {
      [embedding] = await embed(vector.ai, [query]);
    } catch (error) {
      await charge.settle(error instanceof EmbeddingFailure && error.embedded > 0 ? [query] : []);
      logEvent("warn", "query embedding failed; BM25 only", { request_id: call.requestId, error });
      return { results: lexical.slice(0, k), mode: "bm25" };
    }
    await charge.settle([query]);
    let semantic: string[];
    try {
      const found = await vector.index.query(embedding as number[], {
        topK: Math.min(Math.max(k, 20), 50),
        namespace: await namespaceOf(identity.sub),
        returnMetadata: "all",
      });
      semantic = found.matches.map((m) => String(m.metadata?.chunk_id ?? "")).filter(Boolean);
    } catch (error) {
      logEvent("warn", "vector query failed; BM25 only", { request_id: call.requestId, error });
      return { results: lexical.slice(0, k), mode: "bm25" };
    }
    const fused = [...reciprocalRankFusion([lexical.map((r) => r.chunk_id), semantic])]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k);
    const known = new Map(lexical.map((r) => [r.chunk_id, r]));
    const missing = fused.map(([id]) => id).filter((id) => !known.has(id));
    for (const chunk of await index.chunks(missing))
      known.set(chunk.chunk_id, {
        ...chunk,
        snippet: `${chunk.text.slice(0, 200)}${chunk.text.length > 200 ? "…" : ""}`,
        score: 0,
      });
    const results = fused.flatMap(([id, score]) => {
      const hit = known.get(id);
      return hit ? [{ ...hit, score: Number(score.toFixed(6)) }] : [];
    });
    return { results, mode: "hybrid" };
  }

  /** The caller's documents, most recently ingested first. */
  async docs(identity: Identity, _call: CallContext): Promise<{ docs: RagDoc[] }> {
    return { docs: await this.index(identity).docs() };
  }

  /** Removes one of the caller's documents (and its vectors). */
  async remove(identity: Identity, id: string, call: CallContext): Promise<{ deleted: string }> {
    const { existed, chunkIds } = await this.index(identity).remove(id);
    if (!existed) throw new ServiceError("not_found", "no such document");
    // Whatever `rag.hybrid` says now: vectors embedded while it was on go with the document.
    await this.dropVectors(identity, chunkIds, call);
    return { deleted: id };
  }
}

export { TenantIndex } from "./index-do";

/** Internal workers have no HTTP surface. */
/** What other workers bind to (`"entrypoint": "RagEntrypoint"`): RagService, answering refusals as values. */
export const RagEntrypoint = refusingEntrypoint<RagEnv, typeof RagService>(RagService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<RagEnv>;
