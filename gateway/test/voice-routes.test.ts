import { describe, expect, it } from "vitest";
import { expectProblem, gatewayWith, guestToken } from "./helpers";

// The gateway's own half of the voice routes, against a recording double of the voice service (the
// real one is exercised end to end in voice.test.ts): which RPC each route makes, with exactly which
// arguments, and that audio streams through without being buffered.

type Call = { method: string; args: unknown[] };

/** A VoiceService double that records each call and answers with `answer(method)`. */
function recordingVoice(answer: (method: string, args: unknown[]) => unknown): {
  voice: GatewayEnv["VOICE"];
  calls: Call[];
} {
  const calls: Call[] = [];
  const voice = new Proxy(
    {},
    {
      get(_target, method: string) {
        return async (...args: unknown[]) => {
          calls.push({ method, args });
          return answer(method, args);
        };
      },
    },
  ) as unknown as GatewayEnv["VOICE"];
  return { voice, calls };
}

const meter = { creditsUsed: "0.01", creditsBalance: "4.99", provider: "cartesia", model: "cartesia/sonic-3" };

/** A transcript as the voice service answers it, naming the method that made it (the contract test checks its shape). */
function transcriptOf(method: string) {
  return {
    text: method,
    language: null,
    duration_s: 1.5,
    provider: "cartesia",
    model: "cartesia/ink-whisper",
    credits_used: 0.01,
  };
}

function jsonAnswer(method: string): unknown {
  if (method === "openAiTranscription") return { body: "plain words", contentType: "text/plain; charset=utf-8", meter };
  const transcript = transcriptOf(method);
  // The voice loop heard silence: nothing asked, nothing spoken, only the transcription charged.
  const body = method.startsWith("ask")
    ? { transcript, answer: null, audio: null, credits_used: 0.01, request_id: "r-1" }
    : transcript;
  return { body, meter: { ...meter, audioSeconds: 1.5 } };
}

async function bytesOf(stream: ReadableStream | null): Promise<string> {
  return stream === null ? "" : new Response(stream).text();
}

describe("the gateway's side of the voice routes", () => {
  it("passes a raw transcription body on as a stream with its declared length, type and only the options given", async () => {
    const { token } = await guestToken();
    const { voice, calls } = recordingVoice((method) => jsonAnswer(method));
    const response = await gatewayWith({ VOICE: voice }, "/api/voice/transcribe?language=de&foo=1", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "audio/wav", "Content-Length": "5" },
      body: "RIFF!",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Audio-Seconds")).toBe("1.5");
    expect(response.headers.get("X-Credits-Used")).toBe("0.01");
    expect(calls.map((call) => call.method)).toEqual(["transcribe"]);
    const [body, meta, options, identity] = calls[0]?.args ?? [];
    expect(await bytesOf(body as ReadableStream)).toBe("RIFF!");
    expect(meta).toEqual({ contentLength: "5", contentType: "audio/wav" });
    expect(options).toEqual({ language: "de" });
    expect(identity).toMatchObject({ sub: expect.stringMatching(/^guest:/) });
  });

  it("sends a JSON transcription body to transcribeUpload", async () => {
    const { token } = await guestToken();
    const { voice, calls } = recordingVoice((method) => jsonAnswer(method));
    const response = await gatewayWith({ VOICE: voice }, "/api/voice/transcribe", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json; charset=utf-8" },
      body: JSON.stringify({ upload_key: "uploads/x/y" }),
    });
    expect(await response.json()).toEqual(transcriptOf("transcribeUpload"));
    expect(calls.map((call) => [call.method, call.args[0]])).toEqual([
      ["transcribeUpload", { upload_key: "uploads/x/y" }],
    ]);
  });

  it("passes the voice loop its known query parameters and a user-scoped Idempotency-Key", async () => {
    const { token } = await guestToken();
    const { voice, calls } = recordingVoice((method) => jsonAnswer(method));
    const path = "/api/voice/ask?skill=app-graph&max_tokens=64&voice=v1&format=wav&other=x";
    const headers = { Authorization: `Bearer ${token}`, "Content-Type": "audio/wav", "Idempotency-Key": "k-1" };
    const response = await gatewayWith({ VOICE: voice }, path, { method: "POST", headers, body: "RIFF" });
    expect(response.status).toBe(200);
    const [, , query, , key] = calls[0]?.args ?? [];
    expect(query).toEqual({ skill: "app-graph", max_tokens: "64", voice: "v1", format: "wav" });
    expect(key).toBe("user:k-1");
    const refused = await gatewayWith({ VOICE: voice }, path, {
      method: "POST",
      headers: { ...headers, "Idempotency-Key": "has space" },
      body: "RIFF",
    });
    await expectProblem(refused, 400, "invalid_input");
    expect(calls).toHaveLength(1);
  });

  it("passes the voices query through, only the parameters given", async () => {
    const { token } = await guestToken();
    const { voice, calls } = recordingVoice(() => ({ data: [], next_cursor: null }));
    const response = await gatewayWith({ VOICE: voice }, "/api/voice/voices?provider=cartesia&limit=5&x=1", {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(await response.json()).toEqual({ data: [], next_cursor: null });
    expect(calls[0]?.args[0]).toEqual({ provider: "cartesia", limit: "5" });
  });

  it("streams speech to the client as it comes: the first bytes arrive before the rest exists", async () => {
    const { token } = await guestToken();
    let finish: () => void = () => {};
    const rest = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const encoder = new TextEncoder();
    const { voice } = recordingVoice(() => ({
      stream: new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode("first"));
          await rest;
          controller.enqueue(encoder.encode("-rest"));
          controller.close();
        },
      }),
      contentType: "audio/mpeg",
      meter: { ...meter, characters: 12 },
    }));
    for (const path of ["/api/voice/speech", "/v1/audio/speech"]) {
      const response = await gatewayWith({ VOICE: voice }, path, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ text: "hello" }),
      });
      expect(response.headers.get("Content-Type")).toBe("audio/mpeg");
      expect(response.headers.get("Cache-Control")).toBe("no-store");
      expect(response.headers.get("X-Characters")).toBe("12");
      expect(response.headers.get("X-Model")).toBe("cartesia/sonic-3");
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("first");
      finish();
      const second = await reader.read();
      expect(new TextDecoder().decode(second.value)).toBe("-rest");
      expect((await reader.read()).done).toBe(true);
    }
  });

  it("passes a stream the provider broke off on as an error, not as a clean end", async () => {
    const { token } = await guestToken();
    const { voice } = recordingVoice(() => ({
      stream: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("first"));
        },
        pull(controller) {
          controller.error(new Error("provider went away"));
        },
      }),
      contentType: "audio/mpeg",
      meter,
    }));
    const response = await gatewayWith({ VOICE: voice }, "/api/voice/speech", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ text: "hello" }),
    });
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
  });

  it("answers OpenAI's text transcriptions as plain text", async () => {
    const { token } = await guestToken();
    const { voice, calls } = recordingVoice((method) => jsonAnswer(method));
    const response = await gatewayWith({ VOICE: voice }, "/v1/audio/transcriptions", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "multipart/form-data; boundary=b" },
      body: "--b--",
    });
    expect(response.headers.get("Content-Type")).toBe("text/plain; charset=utf-8");
    expect(await response.text()).toBe("plain words");
    expect(calls[0]?.args[1]).toEqual({ contentLength: null, contentType: "multipart/form-data; boundary=b" });
  });

  it("makes no voice call for an anonymous caller", async () => {
    const { voice, calls } = recordingVoice((method) => jsonAnswer(method));
    for (const path of ["/api/voice/speech", "/api/voice/transcribe", "/api/voice/ask", "/v1/audio/transcriptions"]) {
      await expectProblem(
        await gatewayWith({ VOICE: voice }, path, { method: "POST", body: "{}" }),
        401,
        "unauthenticated",
      );
    }
    await expectProblem(await gatewayWith({ VOICE: voice }, "/api/admin/voice-catalog", {}), 401, "unauthenticated");
    expect(calls).toEqual([]);
  });
});
