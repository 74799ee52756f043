/** The embedding model: 768 dimensions; the Vectorize index must be created to match. */
export const EMBEDDING_MODEL = "@cf/baai/bge-base-en-v1.5";
/** Reciprocal-rank-fusion constant: damps the weight of top ranks so neither list dominates. */
export const RRF_K = 60;
const BATCH = 100;

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
async function sha(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Embeddings and Vectorize are used only when both are bound (production); BM25 works alone. */
export function hybrid(env: RagEnv): { ai: Ai; index: VectorizeIndex } | undefined {
  return env.AI && env.VECTORIZE ? { ai: env.AI, index: env.VECTORIZE } : undefined;
}

/** A tenant's Vectorize namespace (ids and namespaces are at most 64 bytes). */
export async function namespaceOf(tenant: string): Promise<string> {
  return (await sha(`rag-namespace\n${tenant}`)).slice(0, 48);
}

export async function vectorId(tenant: string, chunkId: string): Promise<string> {
  return (await sha(`rag-chunk\n${tenant}\n${chunkId}`)).slice(0, 48);
}

export async function embed(ai: Ai, texts: string[]): Promise<number[][]> {
  const vectors: number[][] = [];
  for (let i = 0; i < texts.length; i += BATCH) {
    const output = (await (ai.run as (model: string, input: unknown) => Promise<unknown>)(EMBEDDING_MODEL, {
      text: texts.slice(i, i + BATCH),
    })) as { data?: number[][] };
    if (!Array.isArray(output.data)) throw new Error("the embedding model returned no vectors");
    vectors.push(...output.data);
  }
  return vectors;
}

/** Fuses ranked lists of ids: score = Σ 1 / (RRF_K + rank). */
export function reciprocalRankFusion(lists: string[][]): Map<string, number> {
  const scores = new Map<string, number>();
  for (const list of lists) {
    for (const [rank, id] of list.entries()) scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + rank + 1));
  }
  return scores;
}
