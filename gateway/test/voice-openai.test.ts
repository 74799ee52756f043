import { describe, expect, it } from "vitest";
import { fakeSpeechBytes, testWav } from "../../test-support/fake-cartesia";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken, openaiClient as openai } from "./helpers";

// The OpenAI-compatible audio routes with the official client, the admin voice catalog, and the
// voice routes' refusal of anonymous callers, through the real mesh against the fake Cartesia (see
// voice.test.ts).

describe("OpenAI-compatible audio with the official openai client", () => {
  it("speaks with OpenAI's model and voice names, and transcribes a File", async () => {
    const { token } = await guestToken();
    const client = openai(token);
    const input = "Hello from the OpenAI client.";
    const speech = await client.audio.speech.create({ model: "tts-1", voice: "alloy", input });
    expect(speech.headers.get("Content-Type")).toBe("audio/mpeg");
    expect(speech.headers.get("X-Characters")).toBe(String(input.length));
    expect((await speech.arrayBuffer()).byteLength).toBe(fakeSpeechBytes(input, "mp3"));
    const wav = await client.audio.speech.create({
      model: "gpt-4o-mini-tts",
      voice: "nova",
      input,
      response_format: "wav",
    });
    expect(wav.headers.get("Content-Type")).toBe("audio/wav");
    await wav.arrayBuffer();

    const file = new File([testWav(0.5, { transcript: "typed by whisper" })], "question.wav", { type: "audio/wav" });
    const transcript = await client.audio.transcriptions.create({ file, model: "whisper-1" });
    expect(transcript.text).toBe("typed by whisper");
    const text = await client.audio.transcriptions.create({ file, model: "whisper-1", response_format: "text" });
    expect(String(text).trim()).toBe("typed by whisper");

    await expect(
      client.audio.speech.create({ model: "tts-1", voice: "alloy", input, response_format: "opus" }),
    ).rejects.toMatchObject({ status: 400 });
    const { balance } = (await (await as(token, "/api/credits")).json()) as { balance: number };
    const spent = 5 - balance;
    expect(spent).toBeGreaterThan(0);
  });
});

describe("the voice routes refuse anonymous callers", () => {
  it("401s each of them without a token", async () => {
    for (const [method, path] of [
      ["POST", "/api/voice/speech"],
      ["POST", "/api/voice/transcribe"],
      ["GET", "/api/voice/voices"],
      ["POST", "/api/voice/ask"],
      ["POST", "/v1/audio/speech"],
      ["POST", "/v1/audio/transcriptions"],
    ] as const) {
      const init: RequestInit = { method };
      if (method === "POST") init.body = JSON.stringify({ text: "hi" });
      const response = await gateway(path, init);
      expect({ path, status: response.status }).toEqual({ path, status: 401 });
      await expectProblem(response, 401, "unauthenticated");
    }
  });
});

describe("admin voice catalog", () => {
  it("shows, replaces and restores the catalog, for admins only", async () => {
    const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
    await expectProblem(await gateway("/api/admin/voice-catalog"), 401, "unauthenticated");
    const current = (await (await gateway("/api/admin/voice-catalog", { headers: admin })).json()) as {
      models: { id: string; kind: string }[];
      source: string;
    };
    expect(current.source).toBe("default");
    expect(current.models.some((model) => model.kind === "tts")).toBe(true);
    expect(current.models.some((model) => model.kind === "stt")).toBe(true);
    try {
      const replaced = await gateway("/api/admin/voice-catalog", {
        method: "PUT",
        headers: admin,
        body: JSON.stringify({ models: current.models }),
      });
      expect(replaced.status).toBe(200);
      expect(((await replaced.json()) as { source: string }).source).toBe("kv");
      await expectProblem(
        await gateway("/api/admin/voice-catalog", {
          method: "PUT",
          headers: admin,
          body: JSON.stringify({ models: [] }),
        }),
        400,
        "invalid_input",
      );
    } finally {
      const reset = await gateway("/api/admin/voice-catalog", { method: "DELETE", headers: admin });
      expect(((await reset.json()) as { source: string }).source).toBe("default");
    }
  });
});
