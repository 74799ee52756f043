import { DurableObject } from "cloudflare:workers";
import type { RagDoc, RagResult } from "@cognomega/shared";
import type { Chunk } from "./chunker";

/** What a replace did: the chunk ids the document had before and has now. */
export type ReplaceResult = { previous: string[]; chunkIds: string[] };
/** A replace refused for a quota: its limit, what the other documents use and what this one needs. */
export type QuotaRefusal = { quota: "rag_docs" | "rag_chunks"; limit: number; used: number; requested: number };

type DocRow = { id: string; title: string; source: string; chars: number; chunks: number; updated_at: number };

/** FTS5 would read operators and quotes in a raw query: search for its words instead, any of them. */
export function ftsQuery(query: string): string | undefined {
  const terms = [
    ...new Set((query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((t) => t.length > 1 || /\p{N}/u.test(t))),
  ].slice(0, 32);
  return terms.length === 0 ? undefined : terms.map((t) => `"${t}"`).join(" OR ");
}

/**
 * One tenant's documents: chunks in SQLite with an FTS5 index (porter stemming), ranked by BM25.
 * One object per tenant keeps tenants apart by construction and a re-ingest atomic.
 */
export class TenantIndex extends DurableObject<RagEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: RagEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, chars INTEGER NOT NULL, chunks INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
    );
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, chunk_id TEXT NOT NULL UNIQUE, ord INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL)`,
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id)");
    this.sql.exec(
      `CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, heading, content='chunks', content_rowid='id', tokenize='porter unicode61')`,
    );
    this.sql.exec(
      `CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading); END`,
    );
    this.sql.exec(
      `CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES ('delete', old.id, old.text, old.heading); END`,
    );
  }

  /**
   * Replaces a document's chunks in one transaction; returns the chunk ids it had before. The
   * tenant's quotas are checked in the same transaction, counting the document's old chunks as
   * freed, so concurrent ingests cannot pass them together and a re-ingest counts the difference.
   * Over a quota nothing changes and the refusal is returned, not thrown across the object's edge.
   */
  replace(
    docId: string,
    title: string,
    source: "text" | "upload",
    chars: number,
    chunks: Chunk[],
    now: number,
    quota: { docs: number; chunks: number },
  ): ({ ok: true } & ReplaceResult) | ({ ok: false } & QuotaRefusal) {
    return this.ctx.storage.transactionSync(() => {
      const others = this.sql
        .exec<{ docs: number; chunks: number }>(
          "SELECT COUNT(*) AS docs, COALESCE(SUM(chunks), 0) AS chunks FROM docs WHERE id != ?",
          docId,
        )
        .one();
      if (others.docs + 1 > quota.docs)
        return { ok: false as const, quota: "rag_docs" as const, limit: quota.docs, used: others.docs, requested: 1 };
      if (others.chunks + chunks.length > quota.chunks)
        return {
          ok: false as const,
          quota: "rag_chunks" as const,
          limit: quota.chunks,
          used: others.chunks,
          requested: chunks.length,
        };
      const previous = this.sql
        .exec<{ chunk_id: string }>("SELECT chunk_id FROM chunks WHERE doc_id = ?", docId)
        .toArray()
        .map((r) => r.chunk_id);
      this.sql.exec("DELETE FROM chunks WHERE doc_id = ?", docId);
      const chunkIds: string[] = [];
      chunks.forEach((chunk, ord) => {
        const chunkId = `${docId}#${ord}`;
        chunkIds.push(chunkId);
        this.sql.exec(
          "INSERT INTO chunks (doc_id, chunk_id, ord, heading, text) VALUES (?, ?, ?, ?, ?)",
          docId,
          chunkId,
          ord,
          chunk.heading,
          chunk.text,
        );
      });
      this.sql.exec(
        "INSERT INTO docs (id, title, source, chars, chunks, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, source = excluded.source, chars = excluded.chars, chunks = excluded.chunks, updated_at = excluded.updated_at",
        docId,
        title,
        source,
        chars,
        chunks.length,
        now,
      );
      return { ok: true as const, previous, chunkIds };
    });
  }

  /** BM25 top-k over the tenant's chunks, best first, with highlighted snippets. */
  search(query: string, k: number): RagResult[] {
    const match = ftsQuery(query);
    if (!match) return [];
    return this.sql
      .exec<{ doc_id: string; chunk_id: string; snippet: string; rank: number; text: string }>(
        `SELECT c.doc_id, c.chunk_id, c.text, snippet(chunks_fts, 0, '[', ']', '…', 16) AS snippet, bm25(chunks_fts, 1.0, 0.5) AS rank
         FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid
         WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?`,
        match,
        k,
      )
      .toArray()
      .map((row) => ({
        doc_id: row.doc_id,
        chunk_id: row.chunk_id,
        snippet: row.snippet,
        score: Number((-row.rank).toFixed(6)),
        text: row.text,
      }));
  }

  /** Chunks by id (for results found by embeddings). */
  chunks(chunkIds: string[]): { doc_id: string; chunk_id: string; text: string }[] {
    if (chunkIds.length === 0) return [];
    const marks = chunkIds.map(() => "?").join(",");
    return this.sql
      .exec<{ doc_id: string; chunk_id: string; text: string }>(
        `SELECT doc_id, chunk_id, text FROM chunks WHERE chunk_id IN (${marks})`,
        ...chunkIds,
      )
      .toArray();
  }

  docs(): RagDoc[] {
    return this.sql
      .exec<DocRow>("SELECT * FROM docs ORDER BY updated_at DESC, id")
      .toArray()
      .map((row) => ({
        id: row.id,
        title: row.title,
        source: row.source as RagDoc["source"],
        chars: row.chars,
        chunks: row.chunks,
        updated_at: new Date(row.updated_at).toISOString(),
      }));
  }

  /** Removes a document and says which chunks went with it. */
  remove(docId: string): { existed: boolean; chunkIds: string[] } {
    return this.ctx.storage.transactionSync(() => {
      const chunkIds = this.sql
        .exec<{ chunk_id: string }>("SELECT chunk_id FROM chunks WHERE doc_id = ?", docId)
        .toArray()
        .map((r) => r.chunk_id);
      const existed = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM docs WHERE id = ?", docId).one().n > 0;
      this.sql.exec("DELETE FROM chunks WHERE doc_id = ?", docId);
      this.sql.exec("DELETE FROM docs WHERE id = ?", docId);
      return { existed, chunkIds };
    });
  }
}
