// A fake OpenAI-compatible provider at the SI worker's network edge (Miniflare's outboundService):
// it runs in Node and answers the chat completions the real SI code sends. What it does is chosen by
// markers in the last user message, so a test drives it through the public API alone:
//   [429] → 429 with Retry-After: 60 from Groq (OpenAI answers normally)
//   [down] → 503 from every provider
//   [cut]  → a stream that breaks off after two deltas
//   [slow] → answers after 25 ms (so concurrent callers really overlap)
//   [app-graph] → a valid App Graph v1 (FAKE_APP_GRAPH) as JSON
//   [app-graph-repair] → first a graph that fails the integrity pass (an unknown ref), then, asked
//                        to repair it, FAKE_APP_GRAPH
//   [app-graph-broken] → a graph that fails the integrity pass every time, repair or not
// Any other request gets "Echo: <message>" with usage { prompt_tokens: 12, completion_tokens: 5 }.

/** SI settings that point both OpenAI-compatible providers at the fake (or at a test's fetch spy). */
export const FAKE_PROVIDER_BINDINGS = {
  GROQ_API_KEY: "test-groq-key",
  OPENAI_API_KEY: "test-openai-key",
  GROQ_BASE_URL: "https://groq.test/openai/v1",
  OPENAI_BASE_URL: "https://openai.test/v1",
};

/** The App Graph the fake designs: two entities, a reference between them, two screens. */
export const FAKE_APP_GRAPH = {
  version: 1,
  name: "Book Club",
  description: "Members and the books they read.",
  entities: [
    {
      name: "Member",
      fields: [
        { name: "name", type: "string", required: true },
        { name: "email", type: "email", required: true, unique: true },
      ],
    },
    {
      name: "Book",
      fields: [
        { name: "title", type: "string", required: true },
        { name: "reader", type: "reference", ref: "Member" },
        { name: "status", type: "enum", values: ["reading", "done"] },
      ],
    },
  ],
  screens: [
    { id: "members", title: "Members", kind: "list", entity: "Member" },
    { id: "books", title: "Books", kind: "list", entity: "Book" },
  ],
  navigation: [{ from: "members", to: "books", label: "Books" }],
};

/** FAKE_APP_GRAPH with the reference pointing at an entity that does not exist. */
const BROKEN_APP_GRAPH = {
  ...FAKE_APP_GRAPH,
  entities: [
    FAKE_APP_GRAPH.entities[0],
    {
      name: "Book",
      fields: [
        { name: "title", type: "string" },
        { name: "reader", type: "reference", ref: "Reader" },
      ],
    },
  ],
};

/** The fake's answer to an app-graph marker, or undefined when the request carries none. */
function appGraphAnswer(messages: ChatBody["messages"]): string | undefined {
  const asked = messages.find((m) => m.role === "user" && m.content.includes("[app-graph"))?.content;
  if (asked === undefined) return undefined;
  // A repair request carries the first answer back as an assistant message.
  const repairing = messages.some((m) => m.role === "assistant");
  if (asked.includes("[app-graph-broken]")) return JSON.stringify(BROKEN_APP_GRAPH);
  if (asked.includes("[app-graph-repair]") && !repairing) return JSON.stringify(BROKEN_APP_GRAPH);
  if (asked.includes("[app-graph]") || asked.includes("[app-graph-repair]")) return JSON.stringify(FAKE_APP_GRAPH);
  return undefined;
}

type ChatBody = { model: string; stream?: boolean; messages: { role: string; content: string }[] };

const encoder = new TextEncoder();

function sse(chunks: string[], cut: boolean): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next !== undefined) controller.enqueue(encoder.encode(next));
      else if (cut) controller.error(new Error("connection reset by fake provider"));
      else controller.close();
    },
  });
}

export async function fakeProvider(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (!url.pathname.endsWith("/chat/completions") || request.method !== "POST")
    return new Response("not found", { status: 404 });
  if (!request.headers.get("authorization")?.startsWith("Bearer test-"))
    return Response.json({ error: { message: "bad key" } }, { status: 401 });
  const body = (await request.json()) as ChatBody;
  const last = [...body.messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const groq = url.host === "groq.test";
  if (last.includes("[slow]")) await new Promise((resolve) => setTimeout(resolve, 25));
  if (last.includes("[down]")) return Response.json({ error: { message: "overloaded" } }, { status: 503 });
  if (last.includes("[429]") && groq)
    return Response.json(
      { error: { message: "Rate limit reached", code: "rate_limit_exceeded" } },
      { status: 429, headers: { "retry-after": "60" } },
    );
  const text = appGraphAnswer(body.messages) ?? `Echo: ${last.slice(0, 40)}`;
  const usage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };
  if (!body.stream) {
    return Response.json({
      id: "chatcmpl-fake",
      object: "chat.completion",
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage,
    });
  }
  const cut = last.includes("[cut]");
  const pieces = [text.slice(0, 6), text.slice(6, 12), text.slice(12)].filter((p) => p.length > 0);
  const chunks = (cut ? pieces.slice(0, 2) : pieces).map(
    (content) =>
      `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null })}\n\n`,
  );
  if (!cut) {
    chunks.push(
      `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null })}\n\n`,
    );
    chunks.push(`data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [], usage })}\n\n`);
    chunks.push("data: [DONE]\n\n");
  }
  return new Response(sse(chunks, cut), { headers: { "content-type": "text/event-stream" } });
}
