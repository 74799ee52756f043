import type { CallContext, ChatMessage, Identity, RagResult } from "@cognomega/shared";

/** Characters of one chunk put in front of the model. */
const CHUNK_CONTEXT_CHARS = 1500;

/**
 * Retrieves the caller's most relevant chunks for the last user message and puts them in front of
 * the conversation as a system message that asks for [chunk id] citations.
 */
export async function ground(
  rag: SiEnv["RAG"],
  identity: Identity,
  messages: ChatMessage[],
  k: number,
  call: CallContext,
): Promise<{ messages: ChatMessage[]; sources: RagResult[] }> {
  const question = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const { results } = await rag.query(identity, { query: question.slice(0, 2000), k }, call);
  if (results.length === 0) return { messages, sources: [] };
  const context = results.map((r) => `[${r.chunk_id}] ${r.text.slice(0, CHUNK_CONTEXT_CHARS)}`).join("\n\n");
  const instruction: ChatMessage = {
    role: "system",
    content: `Answer from these excerpts of the user's documents when they are relevant. Cite each excerpt you use by its id in square brackets, like [${results[0]?.chunk_id}]. If they do not contain the answer, say so.\n\n${context}`,
  };
  return { messages: [instruction, ...messages], sources: results };
}

/** The chunk ids an answer cites, in order of first mention, limited to the ones it was given. */
export function citationsIn(output: string, sources: RagResult[]): string[] {
  const known = new Set(sources.map((s) => s.chunk_id));
  const cited: string[] = [];
  for (const match of output.matchAll(/\[([^\]\s]{1,200})\]/g)) {
    const id = match[1] as string;
    if (known.has(id) && !cited.includes(id)) cited.push(id);
  }
  return cited;
}
