// The benchmarks' HTTP client: node:http over a keep-alive agent is lighter than fetch, so less of
// what is measured is the benchmark's own client.
import { Agent, createServer, request as httpRequest } from "node:http";

/** A keep-alive agent holding at most `sockets` connections. */
export function keepAliveAgent(sockets = 1) {
  return new Agent({ keepAlive: true, maxSockets: sockets });
}

/** Sends one JSON request on `agent`; resolves with the status and the whole body as text. */
export function sendJson(agent, url, { method = "POST", body = "", headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method,
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** The chat completion the loopback provider answers every request with ("ok", 21 tokens). */
export const PROVIDER_ANSWER = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 20, completion_tokens: 1, total_tokens: 21 },
});

/**
 * A fake OpenAI-compatible provider on loopback that answers every request with
 * {@link PROVIDER_ANSWER}: at once, or `setDelay(ms)` after the request's body has arrived (a model's
 * time to answer). Resolves with its `/openai/v1` base URL, `setDelay` and `close()`.
 */
export async function startLoopbackProvider() {
  let delayMs = 0;
  const provider = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const answer = () => {
        response.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(PROVIDER_ANSWER),
        });
        response.end(PROVIDER_ANSWER);
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise((resolve) => provider.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${provider.address().port}/openai/v1`,
    setDelay: (ms) => {
      delayMs = ms;
    },
    close: () =>
      new Promise((resolve) => {
        provider.close(resolve);
        // Keep-alive sockets would hold close() open until they time out.
        provider.closeAllConnections();
      }),
  };
}
