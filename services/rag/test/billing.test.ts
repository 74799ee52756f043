import { createExecutionContext } from "cloudflare:test";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it, vi } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { codeOf } from "../../../test-support/failure";
import { env } from "../../../test-support/mesh-env";
import { RagService } from "../src/index";
import { EMBEDDING_MODEL, estimateEmbeddingTokens } from "../src/vectors";

const call = { requestId: "rag-billing-test" };
const admin: Identity = { sub: "admin", source: "admin", admin: true };

/** A new guest account with its 5 starter credits, through the real billing worker. */
async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

/** An AI double that counts its calls (and can fail), and a Vectorize double that keeps vectors. */
function doubles(options: { fail?: (batch: number) => boolean } = {}) {
  let calls = 0;
  const stored = new Map<string, { values: number[]; namespace?: string; metadata?: Record<string, unknown> }>();
  const AI = {
    run: async (_model: string, input: { text: string[] }) => {
      const batch = calls++;
      if (options.fail?.(batch)) throw new Error("3040: Capacity temporarily exceeded");
      return { shape: [input.text.length, 768], data: input.text.map(() => new Array(768).fill(1 / Math.sqrt(768))) };
    },
  };
  const VECTORIZE = {
    upsert: async (vectors: { id: string; values: number[]; namespace?: string }[]) => {
      for (const v of vectors) stored.set(v.id, v);
      return { mutationId: "m" };
    },
    deleteByIds: async (ids: string[]) => {
      for (const id of ids) stored.delete(id);
      return { mutationId: "m" };
    },
    query: async () => ({ count: 0, matches: [] }),
  };
  return { calls: () => calls, stored, overrides: { AI, VECTORIZE } as unknown as Partial<RagEnv> };
}

function rag(overrides: Partial<RagEnv> = {}): RagService {
  return new RagService(createExecutionContext(), { ...env, ...overrides } as RagEnv);
}

const history = async (user: Identity) => (await env.BILLING.history(user, { limit: "20" }, call)).entries;

describe("embedding charges", () => {
  it("charges an ingest's and a query's embeddings as ledger entries with usage events", async () => {
    const user = await guest();
    const { overrides, calls } = doubles();
    // "The zebra sleeps standing up." is 9 WordPiece tokens by the estimate ([CLS], 5 words, one of
    // them 8 letters long and so 2, ".", [SEP]), but is charged at the floor of one per two of its 29
    // characters, 15: at $0.067/M × 100 credits/USD = 6.7 micro-credits a token, 100.5 rounded up to 101.
    expect(estimateEmbeddingTokens("The zebra sleeps standing up.")).toBe(9);
    const ingested = await rag(overrides).ingest(user, { id: "zoo", text: "The zebra sleeps standing up." }, call);
    expect(ingested).toMatchObject({ embedded: true, chunks: 1 });
    // "zebra": [CLS] zebra [SEP], 3 tokens: 20.1 → 21 micro-credits.
    expect((await rag(overrides).query(user, { query: "zebra", k: 1 }, call)).mode).toBe("hybrid");
    expect(calls()).toBe(2);

    const charges = (await history(user)).filter((e) => e.kind === "settle");
    expect(charges.map((e) => ({ amount: e.amount, request_id: e.request_id }))).toEqual([
      { amount: -0.000021, request_id: call.requestId },
      { amount: -0.000101, request_id: call.requestId },
    ]);
    // Each its own entry, under an id of its own operation.
    expect(new Set(charges.map((e) => e.id)).size).toBe(2);
    for (const entry of charges) expect(entry.id).toMatch(/^settle:embed:[0-9a-f-]{36}$/);
    expect(await env.BILLING.balance(user, call)).toMatchObject({ balance: 4.999878, reserved: 0, holds: [] });
    await vi.waitFor(
      async () => {
        const { events } = await env.BILLING.listUsage(user, {}, call);
        expect(
          events.map((e) => ({ provider: e.provider, model: e.model, tokens_in: e.tokens_in, credits: e.credits })),
        ).toEqual([
          { provider: "workers-ai", model: EMBEDDING_MODEL, tokens_in: 15, credits: 0.000101 },
          { provider: "workers-ai", model: EMBEDDING_MODEL, tokens_in: 3, credits: 0.000021 },
        ]);
        expect(events.every((e) => e.estimated === true && e.tokens_out === 0)).toBe(true);
      },
      { timeout: 5_000, interval: 100 },
    );
  });

  it("charges ids and hashes at least one token per two characters, which the estimate under-counts", async () => {
    const user = await guest();
    const { overrides } = doubles();
    // Four SHA-256 hex digests: 259 characters. The estimate takes each 64-digit "word" as 21 tokens
    // (86 in all); WordPiece splits hex into pieces of one to three characters.
    const text = Array.from(
      { length: 4 },
      () => "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ).join(" ");
    expect(estimateEmbeddingTokens(text)).toBe(86);
    expect((await rag(overrides).ingest(user, { id: "hashes", text }, call)).embedded).toBe(true);
    // ⌈259 / 2⌉ = 130 tokens × 6.7 = 871 micro-credits; the hold was 261 tokens.
    const charges = (await history(user)).filter((e) => e.kind === "settle");
    expect(charges.map((e) => e.amount)).toEqual([-0.000871]);
    await vi.waitFor(
      async () => {
        const { events } = await env.BILLING.listUsage(user, {}, call);
        expect(events.map((e) => e.tokens_in)).toEqual([130]);
      },
      { timeout: 5_000, interval: 100 },
    );
  });

  it("402s before any embedding when the balance cannot cover the worst case, writing no document", async () => {
    const user = await guest();
    // Leave 10 micro-credits: a 1,000-character document may cost 1,002 tokens × 6.7 = 6,714.
    await env.BILLING.adjust(
      { account: user.sub, delta: -4.99999, reason: "test: nearly empty" },
      `drain-${crypto.randomUUID()}`,
      admin,
      call,
    );
    const { overrides, calls } = doubles();
    const text = "word ".repeat(200);
    expect(await codeOf(rag(overrides).ingest(user, { id: "big", text }, call))).toBe("insufficient_credits");
    expect(calls()).toBe(0);
    expect((await rag(overrides).docs(user, call)).docs).toEqual([]);
    expect(await env.BILLING.balance(user, call)).toMatchObject({ balance: 0.00001, reserved: 0 });
  });

  it("releases the hold when the embedding fails, keeping the document for BM25", async () => {
    const user = await guest();
    const { overrides } = doubles({ fail: () => true });
    const ingested = await rag(overrides).ingest(user, { id: "doc", text: "Kiwis are flightless birds." }, call);
    expect(ingested.embedded).toBe(false);
    expect((await rag(overrides).query(user, { query: "kiwis", k: 1 }, call)).mode).toBe("bm25");
    expect(await env.BILLING.balance(user, call)).toMatchObject({ balance: 5, reserved: 0, holds: [] });
    expect((await history(user)).filter((e) => e.kind === "settle")).toEqual([]);
  });

  it("charges only the batches embedded before a failure", async () => {
    const user = await guest();
    // 150 one-line sections: two batches of embeddings; the second fails.
    const text = Array.from({ length: 150 }, (_, i) => `# S${i}\n\nline`).join("\n\n");
    const { overrides } = doubles({ fail: (batch) => batch === 1 });
    expect((await rag(overrides).ingest(user, { id: "many", text }, call)).embedded).toBe(false);
    const charges = (await history(user)).filter((e) => e.kind === "settle");
    expect(charges).toHaveLength(1);
    // The first 100 chunks are "S<i>\nline": [CLS] S<i> line [SEP] = 4 tokens each.
    expect(charges[0]?.amount).toBe(-(Math.ceil((400 * 6_700_000) / 1_000_000) / 1_000_000));
    expect(await env.BILLING.balance(user, call)).toMatchObject({ reserved: 0 });
  });

  it("releases the hold of an ingest refused for a quota, embedding nothing", async () => {
    const user = await guest();
    const { overrides, calls } = doubles();
    const limited = () => rag({ ...overrides, RAG_QUOTA_DOCS: "1" } as Partial<RagEnv>);
    await limited().ingest(user, { id: "a", text: "the only document" }, call);
    expect(await codeOf(limited().ingest(user, { id: "b", text: "one too many" }, call))).toBe("quota_exceeded");
    expect(calls()).toBe(1);
    expect((await history(user)).filter((e) => e.kind === "settle")).toHaveLength(1);
    expect(await env.BILLING.balance(user, call)).toMatchObject({ reserved: 0, holds: [] });
  });

  it("charges nothing offline (no AI binding): BM25 alone", async () => {
    const user = await guest();
    const offline = rag({ AI: undefined, VECTORIZE: undefined } as unknown as Partial<RagEnv>);
    expect((await offline.ingest(user, { id: "a", text: "Offline retrieval still works." }, call)).embedded).toBe(
      false,
    );
    expect((await offline.query(user, { query: "offline", k: 1 }, call)).results[0]?.doc_id).toBe("a");
    expect(await env.BILLING.balance(user, call)).toMatchObject({ balance: 5, reserved: 0 });
  });
});
