// What a hostile client (or a misbehaving provider) can try against the voice worker, through its
// entrypoint with the real billing ledger: paying less than the audio it got, being charged more
// than its hold, and inputs that must be 4xx, never a 500.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { clipForSpeech, MAX_LOOP_AUDIO_BYTES } from "../src/loop";
import { voiceCircuits } from "../src/routing";
import { MAX_CHARS_PER_SECOND } from "../src/speech";
import { flac, ogg, wav as wavFile } from "./audio-fixtures";
import { audioBody, audioStream, balanceOf, call, fakeCartesia, guest, voice, wav } from "./flow-helpers";
import { controlledBody } from "./helpers";

const CARTESIA_ONLY = { AI: undefined } as unknown as Partial<VoiceEnv>;
// An allowance that asks for nothing beyond each call's own hold: the ledger's `reserved` during a
// call is then exactly that call's hold.
const HOLD_ONLY = { ...CARTESIA_ONLY, VOICE_ALLOWANCE_CREDITS: "0" } as Partial<VoiceEnv>;

beforeEach(() => voiceCircuits.reset());
afterEach(() => vi.restoreAllMocks());

describe("speech a client leaves", () => {
  it("charges for the audio produced when the client leaves while the provider is still speaking", async () => {
    const user = await guest();
    const provider = controlledBody();
    let providerCancelled = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const reader = provider.stream.getReader();
        const next = await reader.read();
        reader.releaseLock();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel() {
        providerCancelled = true;
      },
    });
    fakeCartesia(() => new Response(body, { headers: { "Content-Type": "audio/mpeg" } }));
    const { service, done } = voice(CARTESIA_ONLY);
    const answer = await service.speech({ text: "d".repeat(900) }, user, call);
    const reader = answer.stream.getReader();
    // One second of 128 kbit/s MP3 arrives; the provider then keeps the client waiting.
    provider.push(new Uint8Array(16_000).fill(7));
    expect((await reader.read()).value?.byteLength).toBe(16_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await reader.cancel();
    await done();
    expect(providerCancelled).toBe(true);
    // One second of speech is at most MAX_CHARS_PER_SECOND characters, at 5,000 micro each.
    const charged = (MAX_CHARS_PER_SECOND * 5000) / 1e6;
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - charged, reserved: 0 });
  });
});

describe("transcription durations", () => {
  it("never charges more than the hold, whatever duration the provider reports", async () => {
    const user = await guest();
    let reservedDuringCall = -1;
    fakeCartesia(async () => {
      reservedDuringCall = (await balanceOf(user)).reserved;
      return Response.json({ type: "transcript", text: "hi", duration: 10_000_000, language: "en", words: [] });
    });
    const { body, meta } = audioBody(wav(3));
    const { service, done } = voice(HOLD_ONLY);
    const heard = await service.transcribe(body, meta, {}, user, call);
    await done();
    // A 3 s WAV is held for 4 s: 20,000 micro at $0.003 a minute.
    expect(reservedDuringCall).toBe(0.02);
    expect(heard.body.credits_used).toBeLessThanOrEqual(0.02);
    expect(heard.body.duration_s).toBeLessThanOrEqual(4);
    expect(await balanceOf(user)).toMatchObject({ balance: 4.98, reserved: 0 });
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, {}, call);
        expect(usage.events).toMatchObject([{ source: "voice", audio_seconds: 4, credits: 0.02, estimated: true }]);
      },
      { timeout: 3000, interval: 100 },
    );
  });

  it("does not hold a long FLAC for the one second its STREAMINFO claims", async () => {
    const user = await guest();
    let reservedDuringCall = -1;
    fakeCartesia(async () => {
      reservedDuringCall = (await balanceOf(user)).reserved;
      return Response.json({ type: "transcript", text: "long talk", duration: 250, language: "en", words: [] });
    });
    // 2.88 MB of frames: at the most any FLAC stream carries (48 kHz stereo 24-bit, 288,000 bytes a
    // second) that is at least 10 s, and real speech FLAC is ten times longer; it says 1 s.
    const lying = flac({ sampleRate: 16_000, totalSamples: 16_000, frameBytes: 2_880_000 });
    const { body, meta } = audioBody(lying, "audio/flac");
    const { service, done } = voice(HOLD_ONLY);
    const heard = await service.transcribe(body, meta, {}, user, call);
    await done();
    // 10 s at $0.003 a minute is 0.05 credits; the claimed 1 s would hold 0.01.
    expect(reservedDuringCall).toBeGreaterThanOrEqual(0.05);
    // What the provider heard is charged, up to what so many bytes can last (1,440 s at 2,000 B/s).
    expect(heard.body.duration_s).toBe(250);
    expect((await balanceOf(user)).balance).toBeCloseTo(5 - 1.25, 6);
  });
});

describe("transcription durations a WAV states", () => {
  it("charges a codec in a WAV for what the provider heard, whatever its byte-rate field says", async () => {
    const user = await guest();
    fakeCartesia(() =>
      Response.json({ type: "transcript", text: "an hour", duration: 100, language: "en", words: [] }),
    );
    // MPEG audio in a WAV (format tag 0x55) claiming 4 GB a second: its data "lasts" no time at all.
    const lying = wavFile({ dataBytes: 400_000, byteRate: 0xffffffff });
    lying[20] = 0x55;
    const { body, meta } = audioBody(lying);
    const { service, done } = voice(CARTESIA_ONLY);
    const heard = await service.transcribe(body, meta, {}, user, call);
    await done();
    expect(heard.body.duration_s).toBe(100);
    expect((await balanceOf(user)).balance).toBeCloseTo(5 - 0.5, 6);
  });
});

describe("the voice loop refuses before it charges", () => {
  function cartesia() {
    return fakeCartesia((seen) =>
      seen.path.startsWith("/stt")
        ? Response.json({ type: "transcript", text: "hello there", duration: 2, language: "en", words: [] })
        : audioStream(2, 500).response,
    );
  }

  for (const [what, query] of [
    ["a voice no model has", { voice: "no-such-voice" }],
    ["a language no speech model speaks", { language: "xx" }],
  ] as const) {
    it(`answers 400 for ${what} with nothing charged and no provider called`, async () => {
      const user = await guest();
      const { seen } = cartesia();
      const { body, meta } = audioBody(wav(2));
      const { service, done } = voice(CARTESIA_ONLY);
      await expect(service.ask(body, meta, query, user, null, call)).rejects.toMatchObject({ code: "invalid_input" });
      // Under a key too, and the key is free again afterwards (not left in flight).
      for (let attempt = 0; attempt < 2; attempt++) {
        const keyed = audioBody(wav(2));
        await expect(
          service.ask(keyed.body, keyed.meta, query, user, `refused-${what}`.replaceAll(" ", "-"), call),
        ).rejects.toMatchObject({ code: "invalid_input" });
      }
      await done();
      expect(seen).toHaveLength(0);
      expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
    });
  }
});

describe("clipForSpeech", () => {
  it("cuts an answer of astral characters to the limit in code points", () => {
    const clipped = clipForSpeech("\u{1F600}".repeat(6_000), 5_000);
    expect([...clipped].length).toBeLessThanOrEqual(5_000);
    expect([...clipped].length).toBeGreaterThan(2_500);
  });
});

describe("the voice loop under a retried key", () => {
  it("completes a retry whose second hearing differs from the first, each stage charged once", async () => {
    const user = await guest();
    let hearings = 0;
    let failTts = true;
    fakeCartesia((seen) => {
      if (seen.path.startsWith("/stt")) {
        hearings += 1;
        // Whisper is not deterministic: the same audio may come back cased or punctuated otherwise.
        const text = hearings === 1 ? "hello there" : "Hello there.";
        return Response.json({ type: "transcript", text, duration: 2, language: "en", words: [] });
      }
      if (failTts) return Response.json({ title: "Down", message: "overloaded" }, { status: 503 });
      return audioStream(2, 500).response;
    });
    const ask = async () => {
      const { body, meta } = audioBody(wav(2));
      const { service, done } = voice(CARTESIA_ONLY);
      try {
        return await service.ask(body, meta, {}, user, "retry-differs", call);
      } finally {
        await done();
      }
    };
    await expect(ask()).rejects.toMatchObject({ code: expect.stringMatching(/^upstream_/) });
    failTts = false;
    const retried = await ask();
    expect(retried.body.transcript.text).toBe("hello there");
    expect(retried.body.audio).not.toBeNull();
    const page = await env.BILLING.history(user, { limit: "100" }, call);
    const charged = page.entries.filter((entry) => entry.kind === "settle" && entry.amount !== 0);
    expect(charged).toHaveLength(3);
    expect((await balanceOf(user)).reserved).toBe(0);
  });
});

describe("requests refused as sent", () => {
  it("refuses OpenAI's stream_format=sse, which this route cannot produce, before any charge", async () => {
    const user = await guest();
    const { seen } = fakeCartesia(() => audioStream(1, 100).response);
    const request = { model: "gpt-4o-mini-tts", input: "hi", voice: "alloy", stream_format: "sse" };
    await expect(voice(CARTESIA_ONLY).service.openAiSpeech(request, user, call)).rejects.toMatchObject({
      code: "invalid_input",
    });
    expect(seen).toHaveLength(0);
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });

  it("holds the gateway's scoped key (user:<a client's 255 characters>) to the shared rule", async () => {
    const user = await guest();
    const { seen } = fakeCartesia(() => Response.json({ text: "never" }));
    for (const key of [`user:${"k".repeat(296)}`, "user:has space"]) {
      const { body, meta } = audioBody(wav(1));
      await expect(voice(CARTESIA_ONLY).service.ask(body, meta, {}, user, key, call)).rejects.toMatchObject({
        code: "invalid_input",
        details: { issues: [{ path: "Idempotency-Key" }] },
      });
    }
    expect(seen).toHaveLength(0);
  });
});

describe("the voice loop under concurrent retries", () => {
  it("runs one of two concurrent asks under one key and charges its stages once", async () => {
    const user = await guest();
    fakeCartesia((seen) =>
      seen.path.startsWith("/stt")
        ? Response.json({ type: "transcript", text: "hello there", duration: 2, language: "en", words: [] })
        : audioStream(2, 500).response,
    );
    const ask = async () => {
      const { body, meta } = audioBody(wav(2));
      const { service, done } = voice(CARTESIA_ONLY);
      try {
        return await service.ask(body, meta, {}, user, "concurrent-key", call);
      } finally {
        await done();
      }
    };
    const outcomes = await Promise.allSettled([ask(), ask()]);
    const served = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(served.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r.reason).toMatchObject({ code: "conflict" });
    const page = await env.BILLING.history(user, { limit: "100" }, call);
    expect(page.entries.filter((entry) => entry.kind === "settle" && entry.amount !== 0)).toHaveLength(3);
    expect((await balanceOf(user)).reserved).toBe(0);
  });
});

describe("transcription of low-rate speech", () => {
  it("charges a 12 kbit/s Opus for all the provider heard, though it outlasts the size's hold", async () => {
    const user = await guest();
    // 90,000 bytes: held as 45 s (2,000 bytes a second); at 12 kbit/s it is 60 s of speech.
    fakeCartesia(() => Response.json({ type: "transcript", text: "a voice note", duration: 60, language: "en" }));
    const { body, meta } = audioBody(ogg(90_000), "audio/ogg");
    const { service, done } = voice(CARTESIA_ONLY);
    const heard = await service.transcribe(body, meta, {}, user, call);
    await done();
    expect(heard.body.duration_s).toBe(60);
    expect((await balanceOf(user)).balance).toBeCloseTo(5 - 0.3, 6);
  });
});

describe("the voice loop's spoken answer", () => {
  it("keeps at most MAX_LOOP_AUDIO_BYTES of answer audio, stops the provider there and charges what it kept", async () => {
    const user = await guest();
    const mib = 1024 * 1024;
    // Slowly spoken text (digits, say) runs far past what a loop can hold: 24 MiB of audio here.
    const long = audioStream(24, mib);
    fakeCartesia((seen) =>
      seen.path.startsWith("/stt")
        ? Response.json({ type: "transcript", text: "count for me", duration: 2, language: "en", words: [] })
        : long.response,
    );
    const { body, meta } = audioBody(wav(2));
    const { service, done } = voice(CARTESIA_ONLY);
    const answer = await service.ask(body, meta, {}, user, null, call);
    await done();
    expect(long.cancelled()).toBe(true);
    expect(long.sent()).toBeLessThan(24);
    expect(atob(answer.body.audio?.data ?? "").length).toBe(MAX_LOOP_AUDIO_BYTES);
    expect((await balanceOf(user)).reserved).toBe(0);
  });
});

describe("transcribing an upload", () => {
  it("reaches only the caller's own uploads, by full key or bare id", async () => {
    const owner = await guest();
    const other = await guest();
    const bytes = wav(1);
    const stored = await env.UPLOADS.upload(
      new Response(bytes).body,
      { contentLength: String(bytes.byteLength), contentType: "audio/wav", filename: "a.wav", route: "/api/uploads" },
      owner,
      call,
    );
    const { seen } = fakeCartesia(() => Response.json({ type: "transcript", text: "mine", duration: 1 }));
    const bareId = stored.key.split("/").at(-1) as string;
    for (const key of [stored.key, bareId, `${bareId}/../${bareId}`])
      await expect(
        voice(CARTESIA_ONLY).service.transcribeUpload({ upload_key: key }, other, call),
      ).rejects.toMatchObject({ code: "not_found" });
    expect(seen).toHaveLength(0);
    expect(await balanceOf(other)).toMatchObject({ balance: 5, reserved: 0 });
    const heard = await voice(CARTESIA_ONLY).service.transcribeUpload({ upload_key: stored.key }, owner, call);
    expect(heard.body.text).toBe("mine");
  });
});
