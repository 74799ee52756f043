import { sha256Hex } from "@cognomega/shared";

/** The embedding model: 768 dimensions; the Vectorize index must be created to match. */
export const EMBEDDING_MODEL = "@cf/baai/bge-base-en-v1.5";
/** Reciprocal-rank-fusion constant: damps the weight of top ranks so neither list dominates. */
export const RRF_K = 60;
/** Texts per embedding call (the model takes at most 100). */
export const EMBEDDING_BATCH = 100;

/** Embeddings and Vectorize are used only when both are bound (production); BM25 works alone. */
export function hybrid(env: RagEnv): { ai: Ai; index: VectorizeIndex } | undefined {
  return env.AI && env.VECTORIZE ? { ai: env.AI, index: env.VECTORIZE } : undefined;
}

/** A tenant's Vectorize namespace (ids and namespaces are at most 64 bytes). */
export async function namespaceOf(tenant: string): Promise<string> {
  return (await sha256Hex(`rag-namespace\n${tenant}`)).slice(0, 48);
}

export async function vectorId(tenant: string, chunkId: string): Promise<string> {
  return (await sha256Hex(`rag-chunk\n${tenant}\n${chunkId}`)).slice(0, 48);
}

/** The embedding model reads at most this many tokens of a text ([CLS] and [SEP] included). */
export const EMBEDDING_MAX_TOKENS = 512;

/**
 * The most tokens a text can cost: WordPiece never makes more tokens than characters, plus [CLS]
 * and [SEP], and the model reads no more than EMBEDDING_MAX_TOKENS. Holds are taken at this bound.
 */
export function embeddingTokenBound(text: string): number {
  return Math.min(EMBEDDING_MAX_TOKENS, text.length + 2);
}

// BERT's pre-tokenizer: runs of letters and digits are words, every other non-space character is a
// token of its own. One match per piece, no backtracking.
const WORDPIECE = /[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}]/gu;
/** A word of up to this many characters is one WordPiece token; longer ones split about every 3. */
const WORD_FREE_CHARS = 6;
const CHARS_PER_EXTRA_TOKEN = 3;
const CJK = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]/u;

/**
 * Estimated bge (BERT WordPiece, uncased) tokens of a text, since the model reports no usage: one
 * per punctuation or symbol character, one per common word and one more per 3 characters beyond 6
 * (rare words and ids split into short pieces), one per CJK character (BERT splits them apart),
 * plus [CLS] and [SEP]. Never more than {@link embeddingTokenBound}, the hold.
 */
export function estimateEmbeddingTokens(text: string): number {
  let tokens = 2;
  const bound = embeddingTokenBound(text);
  WORDPIECE.lastIndex = 0;
  for (let m = WORDPIECE.exec(text); m !== null && tokens < bound; m = WORDPIECE.exec(text)) {
    const piece = m[0];
    if (piece.length === 1 || !CJK.test(piece))
      tokens += 1 + Math.ceil(Math.max(0, piece.length - WORD_FREE_CHARS) / CHARS_PER_EXTRA_TOKEN);
    else tokens += piece.length;
  }
  return Math.min(tokens, bound);
}

/**
 * Tokens a text is charged at: the estimate, but at least one per two characters, since ids, hashes
 * and base64 (which WordPiece splits into pieces of one to three characters) run 2–4× over the
 * estimate; never above {@link embeddingTokenBound}, the hold. Plain prose is charged about twice
 * its real count by this floor, the price of never under-charging text the estimate cannot read.
 */
export function embeddingTokensCharged(text: string): number {
  return Math.min(embeddingTokenBound(text), Math.max(estimateEmbeddingTokens(text), Math.ceil(text.length / 2)));
}

/** An embedding call that failed after `embedded` of its texts had been embedded (and paid for). */
export class EmbeddingFailure extends Error {
  constructor(
    readonly embedded: number,
    override readonly cause: unknown,
  ) {
    super(`embedding failed after ${embedded} texts: ${String(cause)}`);
  }
}

/** Embeds texts in batches of 100; a failure says how many were embedded before it. */
export async function embed(ai: Ai, texts: string[]): Promise<number[][]> {
  const vectors: number[][] = [];
  for (let i = 0; i < texts.length; i += EMBEDDING_BATCH) {
    let output: { data?: number[][] };
    try {
      output = (await (ai.run as (model: string, input: unknown) => Promise<unknown>)(EMBEDDING_MODEL, {
        text: texts.slice(i, i + EMBEDDING_BATCH),
      })) as { data?: number[][] };
    } catch (error) {
      throw new EmbeddingFailure(vectors.length, error);
    }
    // The call ran (and is billed) even if its answer is unusable.
    if (!Array.isArray(output.data))
      throw new EmbeddingFailure(
        Math.min(texts.length, i + EMBEDDING_BATCH),
        "the embedding model returned no vectors",
      );
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
