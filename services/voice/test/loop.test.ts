// The voice loop: audio in → transcript → an SI ask (the real SI worker, its provider faked at its
// edge) → the answer spoken. Each stage is its own charge under the request id; a retried key is
// billed once.

import type { Identity } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { spokenAnswer } from "../src/loop";
import { voiceCircuits } from "../src/routing";
import { audioBody, audioStream, balanceOf, call, fakeCartesia, guest, voice, wav } from "./flow-helpers";

const CARTESIA_ONLY = { AI: undefined } as unknown as Partial<VoiceEnv>;

beforeEach(() => voiceCircuits.reset());
afterEach(() => vi.restoreAllMocks());

/** Cartesia hears "hello there" in 2 s and speaks in two chunks; `ttsFails` makes speaking 503. */
function cartesia(options: { heard?: string; ttsFails?: () => boolean } = {}) {
  return fakeCartesia((seen) => {
    if (seen.path.startsWith("/stt"))
      return Response.json({
        type: "transcript",
        text: options.heard ?? "hello there",
        duration: 2,
        language: "en",
        words: [],
      });
    if (options.ttsFails?.()) return Response.json({ title: "Down", message: "overloaded" }, { status: 503 });
    return audioStream(2, 500).response;
  });
}

async function settles(identity: Identity) {
  const page = await env.BILLING.history(identity, { limit: "100" }, call);
  return page.entries.filter((entry) => entry.kind === "settle");
}

async function ask(user: Identity, key: string | null, audio = wav(2), query: Record<string, string> = {}) {
  const { body, meta } = audioBody(audio);
  const { service, done } = voice(CARTESIA_ONLY);
  try {
    return await service.ask(body, meta, query, user, key, call);
  } finally {
    await done();
  }
}

describe("POST /api/voice/ask", () => {
  it("hears, asks and speaks, each stage charged under the request id", async () => {
    const user = await guest();
    const { seen } = cartesia();
    const answer = await ask(user, null);
    expect(answer.body.transcript).toMatchObject({ text: "hello there", duration_s: 2 });
    expect(answer.body.answer?.output).toContain("hello there");
    expect(answer.body.audio).toMatchObject({ content_type: "audio/mpeg", provider: "cartesia" });
    expect(atob(answer.body.audio?.data ?? "").length).toBe(1000);
    // The spoken text is SI's answer.
    expect(seen.find((s) => s.path.startsWith("/tts"))?.json?.transcript).toBe(answer.body.answer?.output);
    const charges = await settles(user);
    expect(charges).toHaveLength(3);
    expect(charges.every((entry) => entry.request_id === call.requestId)).toBe(true);
    const spent = charges.reduce((sum, entry) => sum - entry.amount, 0);
    expect(answer.body.credits_used).toBeCloseTo(spent, 6);
    expect((await balanceOf(user)).balance).toBeCloseTo(5 - spent, 6);
  });

  it("replays a retried key without charging again", async () => {
    const user = await guest();
    const { seen } = cartesia();
    const first = await ask(user, "loop-key-1");
    const balance = (await balanceOf(user)).balance;
    const second = await ask(user, "loop-key-1");
    expect(second.body).toEqual(first.body);
    expect((await balanceOf(user)).balance).toBe(balance);
    expect(seen).toHaveLength(2);
  });

  it("refuses the same key with other audio", async () => {
    const user = await guest();
    cartesia();
    await ask(user, "loop-key-2");
    await expect(ask(user, "loop-key-2", wav(1))).rejects.toMatchObject({ code: "idempotency_mismatch" });
  });

  it("charges each stage once when a retry follows a failed stage", async () => {
    const user = await guest();
    let failTts = true;
    cartesia({ ttsFails: () => failTts });
    await expect(ask(user, "loop-key-3")).rejects.toMatchObject({ code: expect.stringMatching(/^upstream_/) });
    const afterFailure = await settles(user);
    // Hearing and asking were charged; speaking was not.
    expect(afterFailure).toHaveLength(2);
    failTts = false;
    const retried = await ask(user, "loop-key-3");
    expect(retried.body.audio).not.toBeNull();
    const charged = (await settles(user)).filter((entry) => entry.amount !== 0);
    expect(charged).toHaveLength(3);
    expect((await balanceOf(user)).reserved).toBe(0);
  });

  it("answers silence with an empty transcript and no ask", async () => {
    const user = await guest();
    const { seen } = cartesia({ heard: "" });
    const answer = await ask(user, null, wav(1, false));
    expect(answer.body).toMatchObject({ transcript: { text: "" }, answer: null, audio: null });
    expect(seen).toHaveLength(1);
    expect(await settles(user)).toHaveLength(1);
  });

  it("refuses a bad query before reading the audio", async () => {
    const user = await guest();
    const { seen } = cartesia();
    await expect(ask(user, null, wav(1), { max_tokens: "lots" })).rejects.toMatchObject({ code: "invalid_input" });
    expect(seen).toHaveLength(0);
  });
});

describe("what the loop speaks", () => {
  it("speaks prose as it is and summarises an App Graph instead of reading its JSON", () => {
    expect(spokenAnswer({ output: "Plants need water." })).toBe("Plants need water.");
    const graph = {
      name: "Plant Care",
      entities: [{ name: "Plant" }, { name: "Watering" }, { name: "Room" }],
      screens: [{ id: "plants" }, { id: "log" }],
    };
    expect(spokenAnswer({ output: JSON.stringify(graph), data: graph })).toBe(
      "Plant Care: an app with Plant, Watering and Room, on 2 screens. The full design is in the answer.",
    );
    expect(spokenAnswer({ output: '{"a":1}', data: { a: 1 } })).toBe("Done. The result is in the answer.");
  });
});
