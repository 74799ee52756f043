// The benchmarks' HTTP client: node:http over a keep-alive agent is lighter than fetch, so less of
// what is measured is the benchmark's own client.
import { Agent, request as httpRequest } from "node:http";

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
