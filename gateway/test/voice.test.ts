import { describe, expect, it, vi } from "vitest";
import { FAKE_DEFAULT_TRANSCRIPT, FAKE_VOICES, fakeSpeechBytes, testWav } from "../../test-support/fake-cartesia";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

// The voice routes through the real gateway → voice → billing, SI and uploads workers. Only the
// providers are fake, at their HTTP edge: Cartesia (test-support/fake-cartesia.ts) for speech and
// transcription, the OpenAI-compatible fake behind SI for the voice loop's ask. Voice has no AI
// binding here, so Cartesia is the only voice provider. Sonic-3 costs 50 USD per million
// characters at 100 credits per USD: 100 characters cost 0.5 credits, and a guest starts with 5.

const HUNDRED = "The quick brown fox jumps over the lazy dog, then naps in the sun for a while until dinner time now.";

function speak(token: string, body: unknown): Promise<Response> {
  return as(token, "/api/voice/speech", { method: "POST", body: JSON.stringify(body) });
}

function postAudio(token: string, path: string, body: BodyInit, headers: Record<string, string> = {}) {
  return gateway(path, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "audio/wav", ...headers },
    body,
  });
}

async function balanceOf(token: string): Promise<{ balance: number; holds: unknown[] }> {
  return (await (await as(token, "/api/credits")).json()) as { balance: number; holds: unknown[] };
}

/** Waits for the ledger to show `balance` with no hold open (settles land just after the answer). */
async function expectLedgerBalance(token: string, balance: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const credits = await balanceOf(token);
      expect(credits.balance).toBeCloseTo(balance, 6);
      expect(credits.holds).toEqual([]);
    },
    { timeout: 3_000, interval: 20 },
  );
}

/** Takes a guest's credits to zero through the admin API. */
async function drain(sub: string): Promise<void> {
  const response = await gateway("/api/credits/adjust", {
    method: "POST",
    headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json", "Idempotency-Key": `drain-${sub}` },
    body: JSON.stringify({ account: sub, delta: -5, reason: "voice test: no credits" }),
  });
  expect(response.status).toBe(200);
}

function meterOf(response: Response): Record<string, string | null> {
  const names = ["X-Credits-Used", "X-Credits-Balance", "X-Provider", "X-Model", "X-Characters"];
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

describe("POST /api/voice/speech", () => {
  it("speaks, bills per character and says so in the headers", async () => {
    const { token } = await guestToken();
    expect(HUNDRED).toHaveLength(100);
    const response = await speak(token, { text: HUNDRED });
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("audio/mpeg");
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(meterOf(response)).toEqual({
      "X-Credits-Used": "0.5",
      "X-Credits-Balance": "4.5",
      "X-Provider": "cartesia",
      "X-Model": expect.stringContaining("sonic-3"),
      "X-Characters": "100",
    });
    expect((await response.arrayBuffer()).byteLength).toBe(fakeSpeechBytes(HUNDRED, "mp3"));
    await expectLedgerBalance(token, 4.5);
    // Usage events reach the listing about a second after their charge (the ledger's outbox).
    await vi.waitFor(
      async () => {
        const usage = (await (await as(token, "/api/billing/usage")).json()) as { events: Record<string, unknown>[] };
        expect(usage.events).toEqual([
          expect.objectContaining({
            source: "voice",
            provider: "cartesia",
            characters: 100,
            credits: 0.5,
            request_id: response.headers.get("X-Request-Id"),
          }),
        ]);
      },
      { timeout: 8_000, interval: 100 },
    );
  }, 15_000);

  it("answers each format with its content type", async () => {
    const { token } = await guestToken();
    const wav = await speak(token, { text: "wave", format: "wav" });
    expect(wav.headers.get("Content-Type")).toBe("audio/wav");
    const wavBytes = new Uint8Array(await wav.arrayBuffer());
    expect(new TextDecoder().decode(wavBytes.subarray(0, 4))).toBe("RIFF");
    expect(wavBytes.length).toBe(fakeSpeechBytes("wave", "wav"));
    const pcm = await speak(token, { text: "raw", format: "pcm" });
    expect(pcm.headers.get("Content-Type")).toMatch(/^audio\/pcm;rate=\d+$/);
    expect((await pcm.arrayBuffer()).byteLength).toBe(fakeSpeechBytes("raw", "raw"));
    const mp3 = await speak(token, { text: "mpeg", format: "mp3", voice: FAKE_VOICES[3]?.id, speed: 1.2 });
    expect(mp3.headers.get("Content-Type")).toBe("audio/mpeg");
    expect((await mp3.arrayBuffer()).byteLength).toBe(fakeSpeechBytes("mpeg", "mp3"));
  });

  it("streams: the first bytes reach the client while the provider still holds the rest", async () => {
    const { token } = await guestToken();
    const id = crypto.randomUUID();
    const text = `[hold:${id}] a long answer`;
    const response = await speak(token, { text });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    // The fake sends nothing more until released, so these bytes cannot come from a buffered whole.
    expect(first.done).toBe(false);
    expect(first.value?.length).toBeGreaterThan(0);
    expect(first.value?.length).toBeLessThan(fakeSpeechBytes(text, "mp3"));
    const release = await speak(token, { text: `[release:${id}]` });
    expect(release.status).toBe(200);
    await release.arrayBuffer();
    let total = first.value?.length ?? 0;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) total += chunk.value.length;
    expect(total).toBe(fakeSpeechBytes(text, "mp3"));
  });

  it("charges a client that leaves mid-stream for what the provider produced, never more than the hold", async () => {
    const { token } = await guestToken();
    const id = crypto.randomUUID();
    const text = `[hold:${id}] ${"a long answer the client will not wait for. ".repeat(4)}`;
    const full = text.length * 0.005;
    const response = await speak(token, { text });
    expect(Number(response.headers.get("X-Credits-Used"))).toBeCloseTo(full, 6);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await (await speak(token, { text: `[release:${id}]` })).arrayBuffer();
    const release = 0.005 * `[release:${id}]`.length;
    await vi.waitFor(
      async () => {
        const credits = await balanceOf(token);
        expect(credits.holds).toEqual([]);
        const charged = 5 - release - credits.balance;
        expect(charged).toBeGreaterThan(0);
        expect(charged).toBeLessThan(full);
      },
      { timeout: 4_000, interval: 50 },
    );
  });

  it("502s when the provider fails, keeping its message out and charging nothing", async () => {
    const { token } = await guestToken();
    // A provider's 5xx with no other provider to fall back to (no AI binding here).
    const problem = await expectProblem(await speak(token, { text: "[down] anyone?" }), 502, "upstream_error");
    expect(JSON.stringify(problem)).not.toContain("the fake is overloaded");
    await expectLedgerBalance(token, 5);
  });

  it("402s before any provider is called", async () => {
    const { token, sub } = await guestToken();
    // 1,200 characters cost 6 credits, more than a guest has; [down] would make any provider call a 503.
    await expectProblem(await speak(token, { text: `[down] ${"a".repeat(1193)}` }), 402, "insufficient_credits");
    await drain(sub);
    await expectProblem(await speak(token, { text: "[down] hi" }), 402, "insufficient_credits");
    await expectProblem(
      await postAudio(token, "/api/voice/transcribe", testWav(0.5, { transcript: "[down]" })),
      402,
      "insufficient_credits",
    );
    await expectProblem(
      await postAudio(token, "/api/voice/ask", testWav(0.5, { transcript: "[down]" })),
      402,
      "insufficient_credits",
    );
    await expectLedgerBalance(token, 0);
  });

  it("refuses bad text, voices, models and formats with 400, charging nothing", async () => {
    const { token } = await guestToken();
    for (const body of [
      { text: "" },
      { text: "   " },
      // Over VOICE_MAX_CHARS (2,000 in these tests; the JSON body cap here is 4 KiB).
      { text: "x".repeat(2_001) },
      { text: "hi", voice: "no-such-voice" },
      { text: "hi", model: "nobody/nothing" },
      { text: "hi", format: "ogg" },
      { text: "hi", speed: 9 },
      { text: "hi", extra: true },
    ]) {
      const response = await speak(token, body);
      expect({ body, status: response.status }).toEqual({ body, status: 400 });
      await expectProblem(response, 400, "invalid_input");
    }
    await expectProblem(
      await gateway("/api/voice/speech", { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{" }),
      400,
      "malformed_json",
    );
    await expectLedgerBalance(token, 5);
  });

  it("answers 400 for a Cartesia voice id Cartesia does not have, without opening its circuit", async () => {
    const { token } = await guestToken();
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (let attempt = 0; attempt < 4; attempt++) {
      const problem = await expectProblem(await speak(token, { text: "hi", voice: unknown }), 400, "invalid_input");
      expect(problem.provider_code).toBe("voice_not_found");
    }
    await expectLedgerBalance(token, 5);
    // Four refusals later Cartesia still serves everyone else.
    const served = await speak(token, { text: "still here" });
    expect(served.status).toBe(200);
    await served.arrayBuffer();
  });
});

describe("POST /api/voice/transcribe", () => {
  it("transcribes a WAV body, billed by its duration", async () => {
    const { token } = await guestToken();
    const response = await postAudio(
      token,
      "/api/voice/transcribe?language=en",
      testWav(0.5, { transcript: "turn it on" }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ text: "turn it on", language: "en", provider: "cartesia" });
    expect(body.model).toEqual(expect.stringContaining("ink-whisper"));
    expect(body.duration_s).toBeCloseTo(0.5, 3);
    expect(body.words).toEqual([
      expect.objectContaining({ word: "turn" }),
      expect.objectContaining({ word: "it" }),
      expect.objectContaining({ word: "on" }),
    ]);
    expect(body.credits_used).toBeGreaterThan(0);
    expect(Number(response.headers.get("X-Credits-Used"))).toBe(body.credits_used);
    expect(Number(response.headers.get("X-Audio-Seconds"))).toBe(body.duration_s);
    expect(response.headers.get("X-Provider")).toBe("cartesia");
    await expectLedgerBalance(token, 5 - (body.credits_used as number));
  });

  it("answers silence with an empty transcript, and plain audio with what was heard", async () => {
    const { token } = await guestToken();
    const silent = await postAudio(token, "/api/voice/transcribe", testWav(0.25, { silent: true }));
    expect(silent.status).toBe(200);
    expect(await silent.json()).toMatchObject({ text: "" });
    const plain = await postAudio(token, "/api/voice/transcribe?model=cartesia/ink-whisper", testWav(0.25));
    expect(await plain.json()).toMatchObject({ text: FAKE_DEFAULT_TRANSCRIPT });
  });

  it("transcribes one of the caller's uploads by its key, and no one else's", async () => {
    const { token } = await guestToken();
    const uploaded = await postAudio(token, "/api/upload/direct", testWav(0.5, { transcript: "from an upload" }));
    expect(uploaded.status).toBe(201);
    const { key } = (await uploaded.json()) as { key: string };
    const response = await as(token, "/api/voice/transcribe", {
      method: "POST",
      body: JSON.stringify({ upload_key: key }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ text: "from an upload", provider: "cartesia" });
    const stranger = await guestToken();
    const theirs = await as(stranger.token, "/api/voice/transcribe", {
      method: "POST",
      body: JSON.stringify({ upload_key: key }),
    });
    expect(theirs.status).toBe(404);
    await expectProblem(
      await as(token, "/api/voice/transcribe", { method: "POST", body: JSON.stringify({ upload: key }) }),
      400,
      "invalid_input",
    );
  });

  it("refuses bodies without a length, too large, of the wrong type, or not audio, charging nothing", async () => {
    const { token } = await guestToken();
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(testWav(0.1));
        controller.close();
      },
    });
    await expectProblem(await postAudio(token, "/api/voice/transcribe", chunked), 411, "length_required");
    // The gateway tests cap audio at 64 KiB (VOICE_MAX_AUDIO_BYTES).
    await expectProblem(await postAudio(token, "/api/voice/transcribe", testWav(3)), 413, "payload_too_large");
    await expectProblem(
      await postAudio(token, "/api/voice/transcribe", testWav(0.1), { "Content-Type": "text/plain" }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(
      await postAudio(token, "/api/voice/transcribe", new TextEncoder().encode("definitely not a wave file at all")),
      400,
      "invalid_input",
    );
    // A header promising a second of samples, followed by a tenth of one.
    const truncated = testWav(1).subarray(0, 44 + 3_200);
    await expectProblem(await postAudio(token, "/api/voice/transcribe", truncated), 400, "invalid_input");
    await expectProblem(
      await postAudio(token, "/api/voice/transcribe?language=english", testWav(0.1)),
      400,
      "invalid_input",
    );
    await expectLedgerBalance(token, 5);
  });
});

describe("GET /api/voice/voices", () => {
  it("pages through the provider's voices and filters them", async () => {
    const { token } = await guestToken();
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const response = await as(token, `/api/voice/voices?provider=cartesia&limit=10${query}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { id: string; provider: string }[]; next_cursor: string | null };
      expect(body.data.length).toBeLessThanOrEqual(10);
      expect(body.data.every((voice) => voice.provider === "cartesia")).toBe(true);
      seen.push(...body.data.map((voice) => voice.id));
      cursor = body.next_cursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(seen.toSorted()).toEqual(FAKE_VOICES.map((voice) => voice.id).toSorted());
    const german = (await (await as(token, "/api/voice/voices?provider=cartesia&language=de&limit=100")).json()) as {
      data: { id: string; language: string }[];
    };
    expect(german.data.map((voice) => voice.id).toSorted()).toEqual(
      FAKE_VOICES.filter((voice) => voice.language === "de")
        .map((voice) => voice.id)
        .toSorted(),
    );
    await expectProblem(await as(token, "/api/voice/voices?limit=1000"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/voice/voices?provider=elsewhere"), 400, "invalid_input");
  });
});

describe("POST /api/voice/ask", () => {
  const loop = "/api/voice/ask?model=groq/gpt-oss-20b&max_tokens=64";

  it("hears, asks SI, speaks the answer, and bills each stage under one request id", async () => {
    const { token } = await guestToken();
    const response = await postAudio(token, loop, testWav(0.5, { transcript: "what is a graph" }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      transcript: { text: string; credits_used: number };
      answer: { output: string; provider: string; credits_used: number };
      audio: { content_type: string; data: string; provider: string; characters: number; credits_used: number };
      credits_used: number;
      request_id: string;
    };
    expect(body.transcript.text).toBe("what is a graph");
    expect(body.answer).toMatchObject({ output: "Echo: what is a graph", provider: "groq", model: "groq/gpt-oss-20b" });
    expect(body.audio).toMatchObject({ content_type: "audio/mpeg", provider: "cartesia", characters: 21 });
    expect(atob(body.audio.data)).toHaveLength(fakeSpeechBytes("Echo: what is a graph", "mp3"));
    expect(body.credits_used).toBeCloseTo(
      body.transcript.credits_used + body.answer.credits_used + body.audio.credits_used,
      6,
    );
    expect(body.request_id).toBe(response.headers.get("X-Request-Id"));
    expect(Number(response.headers.get("X-Credits-Used"))).toBeCloseTo(body.credits_used, 6);
    await expectLedgerBalance(token, 5 - body.credits_used);
    const history = (await (await as(token, "/api/credits/history?limit=100")).json()) as {
      entries: { kind: string; request_id: string | null }[];
    };
    expect(history.entries.filter((entry) => entry.request_id === body.request_id)).toHaveLength(3);
  });

  it("answers a retry under the same Idempotency-Key with the same answer, billed once", async () => {
    const { token } = await guestToken();
    const audio = testWav(0.5, { transcript: "say it once" });
    const first = await postAudio(token, loop, audio, { "Idempotency-Key": "voice-ask-1" });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { credits_used: number };
    await expectLedgerBalance(token, 5 - body.credits_used);
    const again = await postAudio(token, loop, audio, { "Idempotency-Key": "voice-ask-1" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(body);
    await expectLedgerBalance(token, 5 - body.credits_used);
    await expectProblem(await postAudio(token, loop, audio, { "Idempotency-Key": "has space" }), 400, "invalid_input");
  });

  it("takes a key of the longest length the API allows (it was refused once scoped as user:<key>)", async () => {
    const { token } = await guestToken();
    const key = "v".repeat(255);
    const audio = testWav(0.5, { transcript: "the longest key" });
    const first = await postAudio(token, loop, audio, { "Idempotency-Key": key });
    expect(first.status).toBe(200);
    const again = await postAudio(token, loop, audio, { "Idempotency-Key": key });
    expect(await again.json()).toEqual(await first.json());
  });

  it("refuses bad audio and bad options before anything is charged", async () => {
    const { token } = await guestToken();
    await expectProblem(
      await postAudio(token, loop, new TextEncoder().encode("not audio, just words")),
      400,
      "invalid_input",
    );
    await expectProblem(await postAudio(token, `${loop}&policy=random`, testWav(0.1)), 400, "invalid_input");
    await expectProblem(await postAudio(token, "/api/voice/ask?max_tokens=lots", testWav(0.1)), 400, "invalid_input");
    await expectLedgerBalance(token, 5);
  });
});
