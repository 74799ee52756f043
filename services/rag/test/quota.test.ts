import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { failure } from "../../../test-support/failure";
import { RagService } from "../src/index";

const call = { requestId: "rag-quota-test" };
const tenant = (): Identity => ({ sub: `guest:rag-quota-${crypto.randomUUID()}`, source: "jwt", admin: false });

/** BM25 only, with the given quotas. */
function rag(docs: number, chunks: number): RagService {
  return new RagService(createExecutionContext(), {
    ...env,
    AI: undefined,
    VECTORIZE: undefined,
    RAG_QUOTA_DOCS: String(docs),
    RAG_QUOTA_CHUNKS: String(chunks),
  } as unknown as RagEnv);
}

/** A document of `n` chunks (one per heading). */
const sections = (n: number, word = "alpha") =>
  Array.from({ length: n }, (_, i) => `# Part ${i}\n\n${word} ${i}`).join("\n\n");

describe("per-tenant RAG quotas", () => {
  it("caps documents; re-ingesting one is not a new one, and deleting frees its place", async () => {
    const user = tenant();
    const service = rag(2, 1000);
    await service.ingest(user, { id: "a", text: "first" }, call);
    await service.ingest(user, { id: "b", text: "second" }, call);
    expect(await failure(service.ingest(user, { id: "c", text: "third" }, call))).toEqual({
      code: "quota_exceeded",
      details: { quota: "rag_docs", limit: 2, used: 2, requested: 1 },
    });
    await service.ingest(user, { id: "b", text: "second, again" }, call);
    await service.remove(user, "a", call);
    await service.ingest(user, { id: "c", text: "third" }, call);
    expect((await service.docs(user, call)).docs.map((d) => d.id).sort()).toEqual(["b", "c"]);
    // Another tenant has its own quota.
    await service.ingest(tenant(), { id: "a", text: "x" }, call);
  });

  it("caps chunks over all documents, counting a re-ingest's difference, and writes nothing over it", async () => {
    const user = tenant();
    const service = rag(100, 5);
    await service.ingest(user, { id: "a", text: sections(3) }, call);
    await service.ingest(user, { id: "b", text: sections(2) }, call);
    // 5 of 5 used. Re-ingesting b at the same size, or smaller, fits: its old chunks are freed.
    await service.ingest(user, { id: "b", text: sections(2, "beta") }, call);
    await service.ingest(user, { id: "b", text: sections(1, "gamma") }, call);
    // a growing to 5 would make 6.
    expect(await failure(service.ingest(user, { id: "a", text: sections(5, "delta") }, call))).toEqual({
      code: "quota_exceeded",
      details: { quota: "rag_chunks", limit: 5, used: 1, requested: 5 },
    });
    // The refused re-ingest left a as it was.
    expect((await service.docs(user, call)).docs.find((d) => d.id === "a")?.chunks).toBe(3);
    expect((await service.query(user, { query: "delta", k: 5 }, call)).results).toEqual([]);
    expect((await service.query(user, { query: "alpha", k: 5 }, call)).results).toHaveLength(3);
    await service.ingest(user, { id: "a", text: sections(4, "delta") }, call);
    expect((await service.docs(user, call)).docs.reduce((n, d) => n + d.chunks, 0)).toBe(5);
  });

  it("keeps concurrent ingests within the quota", async () => {
    const user = tenant();
    const service = rag(3, 1000);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => failure(service.ingest(user, { id: `d${i}`, text: `doc ${i}` }, call))),
    );
    expect(results.filter((r) => r.code === "ok")).toHaveLength(3);
    expect((await service.docs(user, call)).docs).toHaveLength(3);
  });
});
