import { createExecutionContext } from "cloudflare:test";
import { type FlagRolloutShare, fractionalVariant, GATE_FLAGS, type Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { env } from "../../../test-support/mesh-env";
import { RagService } from "../src/index";

// `rag.hybrid` through the real flags worker (over RPC): off, a tenant's documents and queries are
// never embedded or charged; on (the default), they are, as before. The AI binding and Vectorize
// are test doubles at the edge (neither has a local mode).

const call = { requestId: "rag-hybrid-gate-test" };

/** The admin methods of FlagsService this file calls (its RPC types are too deep for tsc: TS2589). */
interface FlagsAdmin {
  get(key: string, identity: Identity, c: typeof call): Promise<{ etag: string }>;
  put(key: string, body: unknown, ifMatch: string | null, identity: Identity, c: typeof call): Promise<unknown>;
  putOverride(key: string, account: string, body: unknown, identity: Identity, c: typeof call): Promise<unknown>;
}
const flags = env.FLAGS as unknown as FlagsAdmin;
const admin: Identity = { sub: "admin", source: "admin", admin: true };

async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

/** An AI double that counts the texts it embeds, and a Vectorize double that keeps vectors. */
function doubles() {
  const embedded: string[] = [];
  const stored = new Map<string, { id: string; values: number[] }>();
  const AI = {
    run: async (_model: string, input: { text: string[] }) => {
      embedded.push(...input.text);
      return { shape: [input.text.length, 768], data: input.text.map(() => new Array(768).fill(1 / Math.sqrt(768))) };
    },
  };
  const VECTORIZE = {
    upsert: async (vectors: { id: string; values: number[] }[]) => {
      for (const v of vectors) stored.set(v.id, v);
      return { mutationId: "m" };
    },
    deleteByIds: async (ids: string[]) => {
      for (const id of ids) stored.delete(id);
      return { mutationId: "m" };
    },
    query: async () => ({ count: 0, matches: [] }),
  };
  return { embedded, stored, overrides: { AI, VECTORIZE } as unknown as Partial<RagEnv> };
}

function rag(overrides: Partial<RagEnv>): RagService {
  return new RagService(createExecutionContext(), { ...env, ...overrides } as RagEnv);
}

const settles = async (user: Identity) =>
  (await env.BILLING.history(user, { limit: "50" }, call)).entries.filter((e) => e.kind === "settle");

const DOC = { id: "zoo", text: "# Zebras\n\nThe zebra sleeps standing up. Herds graze at dawn." };

describe("rag.hybrid", () => {
  it("off for a tenant: BM25 only, nothing embedded or charged; another tenant keeps embeddings", async () => {
    const lexical = await guest();
    const hybrid = await guest();
    await flags.putOverride("rag.hybrid", lexical.sub, { variant: "off" }, admin, call);
    const { embedded, stored, overrides } = doubles();

    const ingested = await rag(overrides).ingest(lexical, DOC, call);
    expect(ingested).toMatchObject({ embedded: false, chunks: 1 });
    const answer = await rag(overrides).query(lexical, { query: "zebra", k: 3 }, call);
    expect(answer.mode).toBe("bm25");
    expect(answer.results.map((r) => r.doc_id)).toEqual(["zoo"]);
    expect(embedded).toEqual([]);
    expect(stored.size).toBe(0);
    expect(await settles(lexical)).toEqual([]);
    expect(await env.BILLING.balance(lexical, call)).toMatchObject({ balance: 5, reserved: 0, holds: [] });

    expect(await rag(overrides).ingest(hybrid, DOC, call)).toMatchObject({ embedded: true });
    expect((await rag(overrides).query(hybrid, { query: "zebra", k: 3 }, call)).mode).toBe("hybrid");
    expect(embedded.length).toBe(2);
    expect(stored.size).toBe(1);
    expect((await settles(hybrid)).length).toBe(2);
  });

  it("switched off after a document was embedded: re-ingesting drops its vectors, then on embeds again", async () => {
    const user = await guest();
    const { embedded, stored, overrides } = doubles();
    expect(await rag(overrides).ingest(user, DOC, call)).toMatchObject({ embedded: true });
    expect(stored.size).toBe(1);

    await flags.putOverride("rag.hybrid", user.sub, { variant: "off" }, admin, call);
    expect(await rag(overrides).ingest(user, DOC, call)).toMatchObject({ embedded: false, replaced: true });
    expect(stored.size).toBe(0);
    expect(embedded.length).toBe(1);

    await flags.putOverride("rag.hybrid", user.sub, { variant: "on" }, admin, call);
    expect(await rag(overrides).ingest(user, DOC, call)).toMatchObject({ embedded: true });
    expect(stored.size).toBe(1);
    expect((await rag(overrides).query(user, { query: "zebra", k: 1 }, call)).mode).toBe("hybrid");
  });

  it("embeds for exactly the tenants a 50 % rollout picks", async () => {
    const tenants = await Promise.all(Array.from({ length: 24 }, () => guest()));
    const rollout: FlagRolloutShare[] = [
      { variant: "on", weight: 50 },
      { variant: "off", weight: 50 },
    ];
    const current = await flags.get("rag.hybrid", admin, call).catch(() => undefined);
    await flags.put(
      "rag.hybrid",
      {
        ...GATE_FLAGS["rag.hybrid"],
        rules: [{ when: [{ attribute: "targetingKey", op: "in", value: tenants.map((t) => t.sub) }], rollout }],
      },
      current?.etag ?? null,
      admin,
      call,
    );
    const { overrides } = doubles();
    const hybrid: string[] = [];
    for (const tenant of tenants) {
      const { mode } = await rag(overrides).query(tenant, { query: "anything", k: 1 }, call);
      if (mode === "hybrid") hybrid.push(tenant.sub);
    }
    const expected = tenants.filter((t) => fractionalVariant("rag.hybrid", t.sub, rollout) === "on").map((t) => t.sub);
    expect(hybrid.sort()).toEqual(expected.sort());
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(tenants.length);
  });
});
