// The whole mesh in workerd (Miniflare), the gateway on a socket of its own as in production, with
// an OpenAI-compatible provider on loopback whose streamed answers pause after their first delta
// until the test lets them go on. A browser test can then tell an answer read incrementally from
// one read only when it is complete.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Miniflare } from "miniflare";
import { auxWorker } from "../scripts/aux-workers.mjs";
import { workerDirs } from "../scripts/workers.mjs";

/** A streamed answer's first delta, sent before the pause. */
export const FIRST_DELTA = "First ";
/** The rest of a streamed answer, sent once {@link LoopbackProvider.release} is called. */
export const REST_DELTA = "and the rest.";

/** The loopback provider and the streams it holds back. */
export interface LoopbackProvider {
  url: string;
  /** Lets every paused stream send the rest of its answer (and any later stream not pause). */
  release(): void;
  /** Arms the pause again for the next streamed answers. */
  hold(): void;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
}

function chunk(delta: Record<string, unknown>, finish: string | null, usage?: Record<string, number>): string {
  const choices = usage ? [] : [{ index: 0, delta, finish_reason: finish }];
  return `data: ${JSON.stringify({ object: "chat.completion.chunk", choices, usage: usage ?? null })}\n\n`;
}

/** Starts the provider: `POST …/chat/completions`, plain or streamed. */
export async function startLoopbackProvider(): Promise<LoopbackProvider> {
  let released: Promise<void> = Promise.resolve();
  let releaseNow: () => void = () => {};
  const hold = () => {
    released = new Promise((resolve) => {
      releaseNow = resolve;
    });
  };
  hold();
  const usage = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const parts: Buffer[] = [];
    request.on("data", (part: Buffer) => parts.push(part));
    request.on("end", async () => {
      const body = JSON.parse(Buffer.concat(parts).toString() || "{}") as { stream?: boolean };
      if (!body.stream) {
        const answer = {
          id: "chatcmpl-loopback",
          object: "chat.completion",
          choices: [
            { index: 0, message: { role: "assistant", content: FIRST_DELTA + REST_DELTA }, finish_reason: "stop" },
          ],
          usage,
        };
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify(answer));
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
      response.write(chunk({ role: "assistant", content: FIRST_DELTA }, null));
      await released;
      response.write(chunk({ content: REST_DELTA }, null));
      response.write(chunk({}, "stop"));
      response.write(chunk({}, null, usage));
      response.end("data: [DONE]\n\n");
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/openai/v1`,
    release: () => releaseNow(),
    hold,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The running mesh: the gateway's own socket, and a way to stop everything. */
export interface Mesh {
  gateway: string;
  dispose(): Promise<void>;
}

/**
 * Runs every worker from its dist/ build (the global setup bundles them), the gateway allowing
 * exactly `allowedOrigin` and SI speaking to `providerUrl` as Groq.
 */
export async function startMesh(allowedOrigin: string, providerUrl: string): Promise<Mesh> {
  const overrides: Record<string, Record<string, string>> = {
    gateway: { ALLOWED_ORIGINS: allowedOrigin, ADMIN_KEY: "browser-admin" },
    "services/billing": { ENVIRONMENT: "development" },
    "services/si": { GROQ_API_KEY: "browser-key", GROQ_BASE_URL: providerUrl },
  };
  const workers = workerDirs().map((dir: string) =>
    auxWorker(
      dir,
      overrides[dir] ?? {},
      dir === "gateway" ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {},
    ),
  );
  const mf = new Miniflare({
    handleRuntimeStdio(stdout, stderr) {
      stdout.resume();
      stderr.resume();
    },
    workers,
  });
  await mf.ready;
  const gateway = (await mf.unsafeGetDirectURL("cognomega-api")).origin;
  return { gateway, dispose: () => mf.dispose() };
}

/** A page server: every path answers the same empty HTML page, so a page has this origin. */
export async function startPageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end("<!doctype html><title>Cognomega CORS check</title>");
  });
  const port = await listen(server);
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
