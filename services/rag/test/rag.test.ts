import { createExecutionContext } from "cloudflare:test";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { codeOf } from "../../../test-support/failure";
import { env } from "../../../test-support/mesh-env";
import { CHUNK_CHARS, chunkText } from "../src/chunker";
import { RagService } from "../src/index";
import { ftsQuery } from "../src/index-do";

const call = { requestId: "rag-test-request" };
const tenant = (name: string): Identity => ({
  sub: `guest:${name}-${crypto.randomUUID()}`,
  source: "jwt",
  admin: false,
});

/** A tenant with a ledger account (5 starter credits): embeddings are charged to it. */
async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

/** BM25 only: the offline path, with no AI binding or Vectorize index. */
function rag(overrides: Partial<RagEnv> = {}): RagService {
  return new RagService(createExecutionContext(), {
    ...env,
    AI: undefined,
    VECTORIZE: undefined,
    ...overrides,
  } as unknown as RagEnv);
}

// A small corpus this test ships: one relevant document per query, the rest distractors.
const CORPUS = [
  {
    id: "tomatoes",
    title: "Growing tomatoes",
    text: "# Growing tomatoes\n\nWater tomato plants deeply two or three times a week. Tomatoes need six hours of sun. Mulch keeps the soil moist.\n\n## Pests\n\nHornworms eat tomato leaves; pick them off by hand.",
  },
  {
    id: "pasta",
    title: "Cooking pasta",
    text: "# Pasta\n\nBoil salted water, add the pasta and stir. Cook until al dente, then drain and toss with the sauce. Save a cup of pasta water.",
  },
  {
    id: "jwt",
    title: "Token security",
    text: "# Guest tokens\n\nTokens are RS256 JWTs. The signature is verified against the JWKS. Reject alg none, HMAC confusion and unknown kid headers.",
  },
  {
    id: "storage",
    title: "Object storage",
    text: "# Uploads\n\nFiles are streamed into R2 object storage with a Content-Length check and a SHA-256 hash in custom metadata.",
  },
  {
    id: "bikes",
    title: "Bicycle care",
    text: "# Chains\n\nClean and lubricate the bicycle chain every few hundred kilometres. Check tyre pressure weekly.",
  },
];

async function seed(identity: Identity): Promise<void> {
  for (const doc of CORPUS) await rag().ingest(identity, doc, call);
}

describe("retrieval", () => {
  it("ranks the relevant document first (BM25)", async () => {
    const user = tenant("rank");
    await seed(user);
    const expectations: [string, string][] = [
      ["how often should I water my tomato plants", "tomatoes"],
      ["verify an RS256 token signature", "jwt"],
      ["boil water for pasta", "pasta"],
      ["stream a file into R2 with a hash", "storage"],
      ["lubricate a bicycle chain", "bikes"],
    ];
    for (const [query, best] of expectations) {
      const { results, mode } = await rag().query(user, { query, k: 3 }, call);
      expect(mode).toBe("bm25");
      expect(results[0]?.doc_id, query).toBe(best);
      expect(results.map((r) => r.score)).toEqual([...results.map((r) => r.score)].sort((a, b) => b - a));
    }
    const { results } = await rag().query(user, { query: "tomato pests", k: 5 }, call);
    expect(results[0]).toMatchObject({ doc_id: "tomatoes", chunk_id: "tomatoes#1" });
    expect(results[0]?.snippet).toContain("[");
  });

  it("keeps tenants apart", async () => {
    const alice = tenant("alice");
    const bob = tenant("bob");
    await seed(alice);
    expect((await rag().query(bob, { query: "tomato", k: 5 }, call)).results).toEqual([]);
    expect((await rag().docs(bob, call)).docs).toEqual([]);
    expect(await codeOf(rag().remove(bob, "tomatoes", call))).toBe("not_found");
    expect((await rag().docs(alice, call)).docs).toHaveLength(5);
  });

  it("replaces a document's chunks when it is ingested again", async () => {
    const user = tenant("replace");
    const first = await rag().ingest(user, { id: "zoo", text: "The zebra sleeps standing up." }, call);
    expect(first).toMatchObject({ id: "zoo", chunks: 1, replaced: false });
    const second = await rag().ingest(
      user,
      { id: "zoo", text: "The giraffe has a long neck.", title: "Zoo notes" },
      call,
    );
    expect(second).toMatchObject({ replaced: true, title: "Zoo notes" });
    expect((await rag().query(user, { query: "zebra", k: 5 }, call)).results).toEqual([]);
    expect((await rag().query(user, { query: "giraffe", k: 5 }, call)).results.map((r) => r.chunk_id)).toEqual([
      "zoo#0",
    ]);
    expect((await rag().docs(user, call)).docs).toMatchObject([{ id: "zoo", title: "Zoo notes", chunks: 1 }]);
  });

  it("treats query syntax as words, never as FTS operators", async () => {
    const user = tenant("syntax");
    await seed(user);
    for (const query of ['"unbalanced', "AND OR NOT", "tomato* NEAR(pasta)", "-- ; DROP TABLE chunks", "🙂🙂"]) {
      await expect(rag().query(user, { query, k: 3 }, call), query).resolves.toBeDefined();
    }
    expect(ftsQuery('tomato "AND" (x)')).toBe('"tomato" OR "and"');
  });

  it("deletes a document", async () => {
    const user = tenant("delete");
    await seed(user);
    expect(await rag().remove(user, "pasta", call)).toEqual({ deleted: "pasta" });
    expect((await rag().query(user, { query: "pasta", k: 5 }, call)).results.map((r) => r.doc_id)).not.toContain(
      "pasta",
    );
    expect(await codeOf(rag().remove(user, "pasta", call))).toBe("not_found");
  });
});

describe("ingestion input", () => {
  it("refuses empty and oversized documents and bad ids", async () => {
    const user = tenant("input");
    for (const body of [
      { id: "x", text: "" },
      { id: "x", text: "   \n\t " },
      { id: "x" },
      { id: "x", text: "a", upload_key: "k" },
      { id: "../x", text: "a" },
      { id: "x", text: "a".repeat(2_000_001) },
      { text: "a" },
    ]) {
      expect(await codeOf(rag().ingest(user, body, call)), JSON.stringify(body).slice(0, 60)).toBe("invalid_input");
    }
    expect(await codeOf(rag().query(user, { query: "" }, call))).toBe("invalid_input");
    expect(await codeOf(rag().query(user, { query: "x", k: 100 }, call))).toBe("invalid_input");
  });

  it("ingests one of the caller's uploads by key, and nobody else's", async () => {
    const user = tenant("upload");
    const text = "# Release notes\n\nThe kiwifruit feature ships on Tuesday.";
    const body = new Blob([text]).stream();
    const stored = await env.UPLOADS.upload(
      body,
      {
        contentLength: String(new TextEncoder().encode(text).length),
        contentType: "text/markdown",
        filename: "notes.md",
        route: "test",
      },
      user,
      call,
    );
    const ingested = await rag().ingest(user, { id: "notes", upload_key: stored.key }, call);
    expect(ingested).toMatchObject({ title: "notes.md", chunks: 1 });
    expect((await rag().query(user, { query: "kiwifruit", k: 1 }, call)).results[0]?.doc_id).toBe("notes");
    expect(await codeOf(rag().ingest(tenant("thief"), { id: "stolen", upload_key: stored.key }, call))).toBe(
      "not_found",
    );
  });
});

describe("chunking", () => {
  it("splits by headings, keeping the heading path", () => {
    const chunks = chunkText("intro text\n# A\nalpha\n## B\nbeta\n# C\ngamma");
    expect(chunks).toEqual([
      { heading: "", text: "intro text" },
      { heading: "A", text: "alpha" },
      { heading: "A › B", text: "beta" },
      { heading: "C", text: "gamma" },
    ]);
  });

  it("splits long sections by size with overlap, and ignores # inside code fences", () => {
    const sentence = "Durable Objects give each account one strongly consistent place to keep its ledger. ";
    const long = `# Long\n${sentence.repeat(60)}`;
    const chunks = chunkText(long);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(CHUNK_CHARS);
    const [a, b] = chunks;
    expect(b?.text.slice(0, 40) && a?.text.includes(b.text.slice(0, 40))).toBe(true);
    expect(chunkText("```\n# not a heading\n```")).toEqual([{ heading: "", text: "```\n# not a heading\n```" }]);
  });
});

describe("hybrid retrieval (AI and Vectorize doubles)", () => {
  // Embeddings from word hashes: texts that share words point the same way.
  function embedding(text: string): number[] {
    const vector = new Array(768).fill(0);
    for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
      let h = 0;
      for (const c of word) h = (h * 31 + c.charCodeAt(0)) % 768;
      vector[h] += 1;
    }
    const norm = Math.hypot(...vector) || 1;
    return vector.map((x) => x / norm);
  }
  function doubles() {
    const stored = new Map<string, { values: number[]; namespace?: string; metadata?: Record<string, unknown> }>();
    const AI = {
      run: async (_model: string, input: { text: string[] }) => ({
        shape: [input.text.length, 768],
        data: input.text.map(embedding),
      }),
    };
    const VECTORIZE = {
      upsert: async (
        vectors: { id: string; values: number[]; namespace?: string; metadata?: Record<string, unknown> }[],
      ) => {
        for (const v of vectors) stored.set(v.id, v);
        return { mutationId: "m" };
      },
      deleteByIds: async (ids: string[]) => {
        for (const id of ids) stored.delete(id);
        return { mutationId: "m" };
      },
      query: async (values: number[], options: { topK: number; namespace?: string }) => {
        const matches = [...stored.entries()]
          .filter(([, v]) => v.namespace === options.namespace)
          .map(([id, v]) => ({
            id,
            score: v.values.reduce((sum, x, i) => sum + x * (values[i] ?? 0), 0),
            metadata: v.metadata,
          }))
          .sort((a, b) => b.score - a.score)
          .slice(0, options.topK);
        return { count: matches.length, matches };
      },
    };
    return { stored, overrides: { AI, VECTORIZE } as unknown as Partial<RagEnv> };
  }

  it("embeds chunks per tenant namespace, fuses with BM25, and cleans vectors up", async () => {
    const { stored, overrides } = doubles();
    const user = await guest();
    for (const doc of CORPUS) expect((await rag(overrides).ingest(user, doc, call)).embedded).toBe(true);
    expect(stored.size).toBe(CORPUS.reduce((n, d) => n + chunkText(d.text).length, 0));
    const { results, mode } = await rag(overrides).query(user, { query: "water the tomato plants", k: 3 }, call);
    expect(mode).toBe("hybrid");
    expect(results[0]?.doc_id).toBe("tomatoes");
    // Another tenant's namespace sees nothing.
    expect((await rag(overrides).query(await guest(), { query: "tomato", k: 3 }, call)).results).toEqual([]);
    // Re-ingesting with fewer chunks and removing a doc delete their vectors.
    await rag(overrides).ingest(user, { id: "tomatoes", text: "Short now." }, call);
    await rag(overrides).remove(user, "pasta", call);
    expect(stored.size).toBe(
      CORPUS.filter((d) => d.id !== "pasta").reduce(
        (n, d) => n + (d.id === "tomatoes" ? 1 : chunkText(d.text).length),
        0,
      ),
    );
  });

  it("falls back to BM25 when the embedding call fails", async () => {
    const { overrides } = doubles();
    const broken = {
      ...overrides,
      AI: { run: async () => Promise.reject(new Error("3040: capacity")) },
    } as unknown as Partial<RagEnv>;
    const user = await guest();
    expect((await rag(broken).ingest(user, CORPUS[0] as (typeof CORPUS)[number], call)).embedded).toBe(false);
    const { mode, results } = await rag(broken).query(user, { query: "tomato", k: 1 }, call);
    expect(mode).toBe("bm25");
    expect(results[0]?.doc_id).toBe("tomatoes");
  });
});
