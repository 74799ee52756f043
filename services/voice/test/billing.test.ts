// How speech and transcription are billed: a hold before any provider is called, a settle at the
// actual cost after, a void when nothing was served; and a stream the client leaves is charged for
// what the provider had produced, never more than the hold.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { voiceCircuits } from "../src/routing";
import { MAX_CHARS_PER_SECOND } from "../src/speech";
import { audioBody, audioStream, balanceOf, bytesOf, call, fakeCartesia, guest, voice, wav } from "./flow-helpers";

// Cartesia alone: 5,000 micro-credits a character ($50 per 1M characters at 100 credits per USD).
const CARTESIA_ONLY = { AI: undefined } as unknown as Partial<VoiceEnv>;
// An allowance that asks for nothing beyond each call's own hold: the ledger's `reserved` during a
// call is then exactly that call's hold.
const HOLD_ONLY = { ...CARTESIA_ONLY, VOICE_ALLOWANCE_CREDITS: "0" } as Partial<VoiceEnv>;
const text100 = "a".repeat(100);

beforeEach(() => voiceCircuits.reset());
afterEach(() => vi.restoreAllMocks());

describe("speech", () => {
  it("holds the cost before the call and charges it when the audio has been read", async () => {
    const user = await guest();
    let heldDuringCall = -1;
    fakeCartesia(async () => {
      heldDuringCall = (await balanceOf(user)).reserved;
      return audioStream(4, 1000).response;
    });
    const { service, done } = voice(HOLD_ONLY);
    const answer = await service.speech({ text: text100 }, user, call);
    expect(answer.contentType).toBe("audio/mpeg");
    expect(answer.meter).toMatchObject({
      creditsUsed: "0.5",
      creditsBalance: "4.5",
      provider: "cartesia",
      model: "cartesia/sonic-3",
      characters: 100,
    });
    expect((await bytesOf(answer.stream)).byteLength).toBe(4000);
    await done();
    expect(heldDuringCall).toBe(0.5);
    expect(await balanceOf(user)).toMatchObject({ balance: 4.5, reserved: 0 });
    await vi.waitFor(
      async () => {
        const usage = await env.BILLING.listUsage(user, {}, call);
        expect(usage.events).toMatchObject([
          {
            request_id: call.requestId,
            provider: "cartesia",
            model: "cartesia/sonic-3",
            characters: 100,
            credits: 0.5,
            source: "voice",
          },
        ]);
      },
      { timeout: 5000, interval: 100 },
    );
  });

  it("answers 402 before any provider is called when the hold does not fit", async () => {
    const user = await guest();
    const { seen } = fakeCartesia(() => audioStream(1, 10).response);
    // 1,001 characters cost 5.005 credits; a guest has 5.
    await expect(voice(CARTESIA_ONLY).service.speech({ text: "a".repeat(1001) }, user, call)).rejects.toMatchObject({
      code: "insufficient_credits",
    });
    expect(seen).toHaveLength(0);
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });

  it("voids the hold when no provider serves", async () => {
    const user = await guest();
    fakeCartesia(() => Response.json({ error_code: null, title: "Down", message: "overloaded" }, { status: 503 }));
    await expect(voice(CARTESIA_ONLY).service.speech({ text: text100 }, user, call)).rejects.toMatchObject({
      code: expect.stringMatching(/^upstream_/),
    });
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });

  it("charges a stream the client leaves for the audio produced, and stops the provider", async () => {
    const user = await guest();
    // 16,000 bytes of MP3 a second (128 kbit/s): each chunk is a second of speech.
    const audio = audioStream(100, 16_000);
    fakeCartesia(() => audio.response);
    const { service, done } = voice(CARTESIA_ONLY);
    const answer = await service.speech({ text: "b".repeat(900) }, user, call);
    const reader = answer.stream.getReader();
    await reader.read();
    await reader.cancel();
    await done();
    expect(audio.cancelled()).toBe(true);
    const produced = audio.sent();
    expect(produced).toBeLessThan(100);
    // What was read from the provider (each chunk one second) at MAX_CHARS_PER_SECOND, at 5,000 micro each.
    const characters = Math.min(900, produced * MAX_CHARS_PER_SECOND);
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (characters * 5000) / 1e6, reserved: 0 });
  });

  it("ends a stream whose provider goes quiet, charged for what had arrived", async () => {
    const user = await guest();
    let cancelled = false;
    // One second of MP3, then nothing: the provider neither sends more nor closes.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(16_000));
      },
      cancel() {
        cancelled = true;
      },
    });
    fakeCartesia(() => new Response(body, { headers: { "Content-Type": "audio/mpeg" } }));
    const { service, done } = voice({ ...CARTESIA_ONLY, VOICE_ATTEMPT_TIMEOUT_MS: "200" });
    const answer = await service.speech({ text: "d".repeat(400) }, user, call);
    const reader = answer.stream.getReader();
    expect((await reader.read()).value?.byteLength).toBe(16_000);
    await expect(reader.read()).rejects.toThrow("stopped sending audio");
    await done();
    expect(cancelled).toBe(true);
    // One second of audio carries at most MAX_CHARS_PER_SECOND characters, at 5,000 micro each.
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (MAX_CHARS_PER_SECOND * 5000) / 1e6, reserved: 0 });
  });

  it("settles for what was produced when the receiver calls stop (a cancel that RPC does not carry)", async () => {
    const user = await guest();
    const audio = audioStream(100, 16_000);
    fakeCartesia(() => audio.response);
    const { service, done } = voice(CARTESIA_ONLY);
    const answer = await service.speech({ text: "e".repeat(900) }, user, call);
    await answer.stream.getReader().read();
    await answer.stop();
    await done();
    expect(audio.cancelled()).toBe(true);
    const characters = Math.min(900, audio.sent() * MAX_CHARS_PER_SECOND);
    expect(await balanceOf(user)).toMatchObject({ balance: 5 - (characters * 5000) / 1e6, reserved: 0 });
  });

  it("never charges a stream more than its hold, however long the audio", async () => {
    const user = await guest();
    fakeCartesia(() => audioStream(50, 16_000).response);
    const { service, done } = voice(CARTESIA_ONLY);
    const answer = await service.speech({ text: "c".repeat(10) }, user, call);
    await bytesOf(answer.stream);
    await done();
    expect(await balanceOf(user)).toMatchObject({ balance: 4.95, reserved: 0 });
  });
});

describe("transcription", () => {
  it("holds the audio's bound and charges the duration the provider reports", async () => {
    const user = await guest();
    fakeCartesia(() =>
      Response.json({
        type: "transcript",
        text: "hello there",
        duration: 2.5,
        language: "en",
        request_id: "r",
        words: [],
      }),
    );
    const audio = wav(3);
    const { body, meta } = audioBody(audio);
    const { service, done } = voice(CARTESIA_ONLY);
    const heard = await service.transcribe(body, meta, {}, user, call);
    await done();
    expect(heard.body).toMatchObject({
      text: "hello there",
      duration_s: 2.5,
      provider: "cartesia",
      model: "cartesia/ink-whisper",
    });
    // $0.003 a minute at 100 credits per USD: 300,000 micro a minute, so 2.5 s is 12,500.
    expect(heard.body.credits_used).toBe(0.0125);
    expect(heard.meter).toMatchObject({ audioSeconds: 2.5, creditsUsed: "0.0125" });
    expect(await balanceOf(user)).toMatchObject({ balance: 4.9875, reserved: 0 });
  });

  it("answers an empty transcript for silence, charged for the audio heard", async () => {
    const user = await guest();
    fakeCartesia(() => Response.json({ type: "transcript", text: "", duration: 1, language: "en", words: [] }));
    const { body, meta } = audioBody(wav(1, false));
    const heard = await voice(CARTESIA_ONLY).service.transcribe(body, meta, {}, user, call);
    expect(heard.body.text).toBe("");
    expect(heard.body.credits_used).toBe(0.005);
  });

  it("charges nothing and calls no provider for audio it refuses", async () => {
    const user = await guest();
    const { seen } = fakeCartesia(() => Response.json({ text: "never" }));
    const junk = new TextEncoder().encode("this is not audio at all, just text pretending");
    const { body, meta } = audioBody(junk);
    await expect(voice(CARTESIA_ONLY).service.transcribe(body, meta, {}, user, call)).rejects.toMatchObject({
      code: "invalid_input",
    });
    expect(seen).toHaveLength(0);
    expect(await balanceOf(user)).toMatchObject({ balance: 5, reserved: 0 });
  });
});
