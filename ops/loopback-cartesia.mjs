// A Cartesia-compatible server on loopback, for the `npm start` smoke and `npm run bench:voice`:
// it refuses what Cartesia refuses (no Bearer key, no Cartesia-Version), streams speech in chunks
// from `POST /tts/bytes`, answers `POST /stt` with a transcript of the audio's length (a WAV's,
// from its header) and lists one voice at `GET /voices`. Not a test double of Cartesia's voices
// or words: it proves that the mesh speaks Cartesia's protocol end to end.
import { createServer } from "node:http";

/** Bytes of each speech chunk, and how many a speech answer has. */
export const SPEECH_CHUNK_BYTES = 12_000;
export const SPEECH_CHUNKS = 4;
export const LOOPBACK_TRANSCRIPT = "hello from the loopback cartesia";

function wavSeconds(body) {
  const riff = body.subarray(0, 4).toString("latin1") === "RIFF" && body.subarray(8, 12).toString("latin1") === "WAVE";
  if (!riff || body.length < 44) return 1;
  // The data chunk's own size: the multipart body goes on past the file.
  const byteRate = body.readUInt32LE(28);
  return byteRate > 0 ? body.readUInt32LE(40) / byteRate : 1;
}

/** Starts the server; resolves with its base URL and a `close()`. */
export async function startLoopbackCartesia(key) {
  const chunk = Buffer.alloc(SPEECH_CHUNK_BYTES, 0x5a);
  const server = createServer((request, response) => {
    const parts = [];
    request.on("data", (part) => parts.push(part));
    request.on("end", () => {
      const fail = (status, title) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify({ error_code: null, title, message: title }));
      };
      if (request.headers.authorization !== `Bearer ${key}`) return fail(401, "Unauthorized");
      if (!/^\d{4}-\d{2}-\d{2}$/.test(String(request.headers["cartesia-version"] ?? "")))
        return fail(400, "Cartesia-Version is required");
      const path = new URL(request.url ?? "/", "http://loopback").pathname;
      if (request.method === "POST" && path === "/tts/bytes") {
        response.writeHead(200, { "content-type": "audio/mpeg" });
        let sent = 0;
        const next = () => {
          response.write(chunk);
          if (++sent < SPEECH_CHUNKS) setImmediate(next);
          else response.end();
        };
        return next();
      }
      if (request.method === "POST" && path === "/stt") {
        const body = Buffer.concat(parts);
        // The file part of the multipart body: enough of it to read a WAV header's byte rate.
        const start = body.indexOf("RIFF");
        const duration = start >= 0 ? wavSeconds(body.subarray(start)) : 1;
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(
          JSON.stringify({ type: "transcript", text: LOOPBACK_TRANSCRIPT, duration, language: "en", words: [] }),
        );
      }
      if (request.method === "GET" && path === "/voices") {
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(
          JSON.stringify({
            data: [{ id: "a0e99841-438c-4a64-b679-ae501e7d6091", name: "Loopback", language: "en", is_public: true }],
            has_more: false,
          }),
        );
      }
      fail(404, "Not Found");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
