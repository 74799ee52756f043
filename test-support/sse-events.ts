/** One server-sent event of a Cognomega stream: its name and its JSON data. */
export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads a whole `text/event-stream` body (a Response or a stream) into its events. */
export async function readEvents(body: Response | ReadableStream<Uint8Array>): Promise<StreamEvent[]> {
  const text = await (body instanceof Response ? body : new Response(body)).text();
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1] ?? "message",
      data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null"),
    }));
}
