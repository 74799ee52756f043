import { env } from "cloudflare:workers";
import type { ProviderFailure, SpeechFormat, VoiceCatalogEntry } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_VOICE_CATALOG } from "../src/catalog";
import { cartesiaProvider } from "../src/providers/cartesia";
import { voiceProviders } from "../src/providers/index";
import { toBase64, workersAiProvider } from "../src/providers/workers-ai";
import { CARTESIA_VOICES_KEY, listVoices } from "../src/voices";
import { cartesiaError, controlledBody, fakeAi, fakeCartesia, readAll, rejection, testSettings } from "./helpers";

const model = (id: string): VoiceCatalogEntry => {
  const found = DEFAULT_VOICE_CATALOG.models.find((m) => m.id === id);
  if (!found) throw new Error(id);
  return found;
};
const SONIC = model("cartesia/sonic-3");
const AURA = model("workers-ai/aura-2-en");
const TURBO = model("workers-ai/whisper-large-v3-turbo");
const INK = model("cartesia/ink-whisper");
const VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091";
const signal = () => new AbortController().signal;
const bytes = (...values: number[]) => new Uint8Array(values);

afterEach(() => {
  vi.restoreAllMocks();
});

async function failureOf(promise: Promise<unknown>): Promise<ProviderFailure> {
  const error = await rejection(promise);
  expect((error as unknown as Error).name).toBe("ProviderFailure");
  return error as unknown as ProviderFailure;
}

describe("cartesia speak", () => {
  it("streams the body as Cartesia sends it: the first chunk is readable before the body has finished", async () => {
    const body = controlledBody();
    const { seen } = fakeCartesia(() => new Response(body.stream, { headers: { "content-type": "audio/mpeg" } }));
    const audio = await cartesiaProvider(testSettings().cartesia).speak({
      model: SONIC,
      text: "Hello there",
      voice: VOICE,
      format: "mp3",
      signal: signal(),
    });
    expect(audio.contentType).toBe("audio/mpeg");
    expect(audio.bytesPerSecond).toBe(16000);
    const reader = audio.body.getReader();
    body.push(bytes(1, 2, 3));
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect([...(first.value ?? [])]).toEqual([1, 2, 3]);
    body.push(bytes(4));
    body.close();
    const rest = await reader.read();
    expect([...(rest.value ?? [])]).toEqual([4]);
    expect((await reader.read()).done).toBe(true);

    expect(seen).toHaveLength(1);
    expect(seen[0]?.url.href).toBe("https://cartesia.test/tts/bytes");
    expect(seen[0]?.method).toBe("POST");
    expect(seen[0]?.json).toEqual({
      model_id: "sonic-3",
      transcript: "Hello there",
      voice: { mode: "id", id: VOICE },
      output_format: { container: "mp3", sample_rate: 44100, bit_rate: 128000 },
    });
  });

  it.each([
    ["wav", { container: "wav", encoding: "pcm_s16le", sample_rate: 24000 }, "audio/wav", 48000],
    ["pcm", { container: "raw", encoding: "pcm_s16le", sample_rate: 24000 }, "audio/pcm;rate=24000", 48000],
  ] as const)("asks for %s as %o", async (format, outputFormat, contentType, bps) => {
    const { seen } = fakeCartesia(() => new Response(bytes(9)));
    const audio = await cartesiaProvider(testSettings().cartesia).speak({
      model: SONIC,
      text: "Hi",
      voice: VOICE,
      format: format as SpeechFormat,
      signal: signal(),
    });
    expect(audio.contentType).toBe(contentType);
    expect(audio.bytesPerSecond).toBe(bps);
    expect(seen[0]?.json?.output_format).toEqual(outputFormat);
    expect([...(await readAll(audio.body))]).toEqual([9]);
  });

  it("sends speed only to a model that supports it, and the primary language subtag", async () => {
    const { seen } = fakeCartesia(() => new Response(bytes(1)));
    const provider = cartesiaProvider(testSettings().cartesia);
    const base = { text: "Olá", voice: VOICE, format: "mp3" as const, signal: signal() };
    await provider.speak({ ...base, model: SONIC, speed: 1.2, language: "pt-BR" });
    await provider.speak({ ...base, model: { ...SONIC, speed: false }, speed: 1.2 });
    expect(seen[0]?.json?.generation_config).toEqual({ speed: 1.2 });
    expect(seen[0]?.json?.language).toBe("pt");
    expect(seen[1]?.json).not.toHaveProperty("generation_config");
    expect(seen[1]?.json).not.toHaveProperty("language");
  });

  it.each([
    [429, "concurrency_limited", { "retry-after": "2" }, "rate_limited", 2000],
    [503, null, {}, "server_error", undefined],
    [500, null, { "retry-after": "1" }, "server_error", 1000],
    [408, null, {}, "timeout", undefined],
    [400, "invalid_transcript", {}, "client_error", undefined],
    [422, null, {}, "client_error", undefined],
    [401, "invalid_api_key", {}, "rejected", undefined],
    [403, null, {}, "rejected", undefined],
    [404, "voice_not_found", {}, "rejected", undefined],
    [400, "model_sunsetted", {}, "rejected", undefined],
  ] as const)("classifies %i %s as %s", async (status, code, headers, kind, retryAfter) => {
    fakeCartesia(() => cartesiaError(status, code, headers));
    const failure = await failureOf(
      cartesiaProvider(testSettings().cartesia).speak({
        model: SONIC,
        text: "Hi",
        voice: VOICE,
        format: "mp3",
        signal: signal(),
      }),
    );
    expect(failure.kind).toBe(kind);
    expect(failure.status).toBe(status);
    expect(failure.retryAfterMs).toBe(retryAfter);
    expect(failure.providerCode).toBe(code ?? undefined);
    expect(failure.message).toContain("Fake failure");
  });

  it("reads a plain-text error, and tells a connection failure from a timeout", async () => {
    const provider = cartesiaProvider(testSettings().cartesia);
    const call = { model: SONIC, text: "Hi", voice: VOICE, format: "mp3" as const };
    fakeCartesia(() => new Response("Bad Gateway: upstream gone", { status: 502 }));
    const plain = await failureOf(provider.speak({ ...call, signal: signal() }));
    expect(plain.kind).toBe("server_error");
    expect(plain.message).toContain("upstream gone");
    expect(plain.providerCode).toBeUndefined();

    vi.restoreAllMocks();
    fakeCartesia(() => {
      throw new TypeError("network down");
    });
    expect((await failureOf(provider.speak({ ...call, signal: signal() }))).kind).toBe("connection_error");
    const controller = new AbortController();
    controller.abort();
    expect((await failureOf(provider.speak({ ...call, signal: controller.signal }))).kind).toBe("timeout");
  });

  it("is unconfigured without a key and never calls out", async () => {
    const { seen } = fakeCartesia(() => new Response(bytes(1)));
    const provider = cartesiaProvider({ ...testSettings().cartesia, apiKey: undefined });
    expect(provider.configured().ok).toBe(false);
    const failure = await failureOf(
      provider.speak({ model: SONIC, text: "Hi", voice: VOICE, format: "mp3", signal: signal() }),
    );
    expect(failure.kind).toBe("unavailable");
    expect(seen).toHaveLength(0);
  });
});

describe("cartesia transcribe and voices", () => {
  it("posts the audio as multipart with the model, language and word timestamps", async () => {
    const { seen } = fakeCartesia(() =>
      Response.json({
        type: "transcript",
        text: "hello world",
        duration: 1.5,
        language: "en",
        request_id: "r",
        words: [
          { word: "hello", start: 0, end: 0.5 },
          { word: "world", start: 0.6, end: 1.1 },
        ],
      }),
    );
    const heard = await cartesiaProvider(testSettings().cartesia).transcribe({
      model: INK,
      audio: bytes(82, 73, 70, 70),
      contentType: "audio/wav",
      language: "en-US",
      signal: signal(),
    });
    expect(heard).toEqual({
      text: "hello world",
      language: "en",
      durationS: 1.5,
      words: [
        { word: "hello", start: 0, end: 0.5 },
        { word: "world", start: 0.6, end: 1.1 },
      ],
    });
    const request = seen[0];
    expect(request?.url.href).toBe("https://cartesia.test/stt");
    expect(request?.headers.has("content-type")).toBe(false);
    const file = request?.form?.get("file") as unknown as File;
    expect(file.name).toBe("audio.wav");
    expect(file.type).toBe("audio/wav");
    expect([...new Uint8Array(await file.arrayBuffer())]).toEqual([82, 73, 70, 70]);
    expect(request?.form?.get("model")).toBe("ink-whisper");
    expect(request?.form?.get("language")).toBe("en");
    expect(request?.form?.getAll("timestamp_granularities[]")).toEqual(["word"]);
  });

  it("follows starting_after pages until has_more is false", async () => {
    const page = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: `voice-${from + i}`, name: `V${from + i}`, language: "en" }));
    const { seen } = fakeCartesia((request) =>
      Response.json(
        request.url.searchParams.get("starting_after") === null
          ? { data: page(0, 100), has_more: true }
          : { data: page(100, 2), has_more: false },
      ),
    );
    const voices = await cartesiaProvider(testSettings().cartesia).voices(signal());
    expect(voices).toHaveLength(102);
    expect(voices[0]).toEqual({ id: "voice-0", name: "V0", provider: "cartesia", language: "en" });
    expect(
      seen.map((r) => [r.url.pathname, r.url.searchParams.get("limit"), r.url.searchParams.get("starting_after")]),
    ).toEqual([
      ["/voices", "100", null],
      ["/voices", "100", "voice-99"],
    ]);
  });

  it("takes a bare array (old API versions) and stops at 10 pages", async () => {
    const bare = fakeCartesia(() => Response.json([{ id: "a", name: "A", language: "fr", gender: "feminine" }]));
    expect(await cartesiaProvider(testSettings().cartesia).voices(signal())).toEqual([
      { id: "a", name: "A", provider: "cartesia", language: "fr", gender: "feminine" },
    ]);
    expect(bare.seen).toHaveLength(1);
    vi.restoreAllMocks();
    let n = 0;
    const endless = fakeCartesia(() => Response.json({ data: [{ id: `v${n++}`, name: "x" }], has_more: true }));
    expect(await cartesiaProvider(testSettings().cartesia).voices(signal())).toHaveLength(10);
    expect(endless.seen).toHaveLength(10);
  });
});

describe("workers-ai", () => {
  it.each([
    ["mp3", { encoding: "mp3", bit_rate: 48000 }, "audio/mpeg", 6000],
    ["wav", { encoding: "linear16", container: "wav", sample_rate: 24000 }, "audio/wav", 48000],
    ["pcm", { encoding: "linear16", container: "none", sample_rate: 24000 }, "audio/pcm;rate=24000", 48000],
  ] as const)("asks Aura for %s", async (format, inputs, contentType, bps) => {
    const { ai, calls } = fakeAi(() => new Response(bytes(7, 7)).body);
    const audio = await workersAiProvider(ai).speak({
      model: AURA,
      text: "Hi",
      voice: "orion",
      format: format as SpeechFormat,
      signal: signal(),
    });
    expect(calls).toEqual([{ model: "@cf/deepgram/aura-2-en", inputs: { text: "Hi", speaker: "orion", ...inputs } }]);
    expect(audio.contentType).toBe(contentType);
    expect(audio.bytesPerSecond).toBe(bps);
    expect([...(await readAll(audio.body))]).toEqual([7, 7]);
  });

  it("turns every output shape the binding returns into a stream", async () => {
    const outputs: unknown[] = [
      bytes(1, 2),
      bytes(1, 2).buffer,
      new Response(bytes(1, 2)),
      { audio: btoa(String.fromCharCode(1, 2)) },
    ];
    for (const output of outputs) {
      const { ai } = fakeAi(() => output);
      const audio = await workersAiProvider(ai).speak({
        model: AURA,
        text: "Hi",
        voice: "luna",
        format: "mp3",
        signal: signal(),
      });
      expect([...(await readAll(audio.body))]).toEqual([1, 2]);
    }
    const { ai } = fakeAi(() => ({ nothing: true }));
    const failure = await failureOf(
      workersAiProvider(ai).speak({ model: AURA, text: "Hi", voice: "luna", format: "mp3", signal: signal() }),
    );
    expect(failure.kind).toBe("server_error");
  });

  it("sends Whisper turbo base64 audio and reads segments, language and duration", async () => {
    const audio = new Uint8Array(100_001).map((_, i) => (i * 31) % 256);
    const { ai, calls } = fakeAi(() => ({
      text: " hello there ",
      segments: [
        { start: 0, end: 1, text: "hello", words: [{ word: " hello", start: 0, end: 0.4 }] },
        { start: 1, end: 2, text: "there", words: [{ word: " there", start: 1, end: 1.3 }] },
      ],
      transcription_info: { language: "en", language_probability: 0.9, duration: 2.25, duration_after_vad: 2 },
    }));
    const heard = await workersAiProvider(ai).transcribe({
      model: TURBO,
      audio,
      contentType: "audio/wav",
      language: "en-GB",
      signal: signal(),
    });
    expect(heard).toEqual({
      text: "hello there",
      language: "en",
      durationS: 2.25,
      words: [
        { word: "hello", start: 0, end: 0.4 },
        { word: "there", start: 1, end: 1.3 },
      ],
    });
    expect(calls[0]?.model).toBe("@cf/openai/whisper-large-v3-turbo");
    expect(calls[0]?.inputs.language).toBe("en");
    const sent = atob(String(calls[0]?.inputs.audio));
    expect(sent.length).toBe(audio.length);
    expect(Uint8Array.from(sent, (c) => c.charCodeAt(0))).toEqual(audio);
    expect(toBase64(bytes(1, 2, 3, 4))).toBe(btoa(String.fromCharCode(1, 2, 3, 4)));
  });

  it("sends the original Whisper the bytes as numbers", async () => {
    const { ai, calls } = fakeAi(() => ({ text: "hi", words: [{ word: "hi", start: 0, end: 0.2 }] }));
    const heard = await workersAiProvider(ai).transcribe({
      model: { ...TURBO, model: "@cf/openai/whisper" },
      audio: bytes(1, 2, 3),
      contentType: "audio/mpeg",
      signal: signal(),
    });
    expect(calls[0]?.inputs).toEqual({ audio: [1, 2, 3] });
    expect(heard).toEqual({ text: "hi", language: null, words: [{ word: "hi", start: 0, end: 0.2 }] });
  });

  it("classifies binding errors, an absent binding and a call that outlives its signal", async () => {
    const call = { model: AURA, text: "Hi", voice: "luna", format: "mp3" as const };
    const busy = fakeAi(() => {
      throw new Error("3040: Capacity temporarily exceeded, please try again.");
    });
    expect((await failureOf(workersAiProvider(busy.ai).speak({ ...call, signal: signal() }))).kind).toBe(
      "rate_limited",
    );
    const offline = fakeAi(() => {
      throw new Error("Binding AI needs to be run remotely");
    });
    expect((await failureOf(workersAiProvider(offline.ai).speak({ ...call, signal: signal() }))).kind).toBe(
      "unavailable",
    );
    expect(workersAiProvider(undefined).configured().ok).toBe(false);
    expect((await failureOf(workersAiProvider(undefined).speak({ ...call, signal: signal() }))).kind).toBe(
      "unavailable",
    );
    const hanging = fakeAi(() => new Promise(() => {}));
    const controller = new AbortController();
    const pending = workersAiProvider(hanging.ai).speak({ ...call, signal: controller.signal });
    controller.abort();
    expect((await failureOf(pending)).kind).toBe("timeout");
    expect(await workersAiProvider(busy.ai).voices(signal())).toEqual([]);
  });
});

describe("voices list", () => {
  const CARTESIA_VOICES = [
    { id: "c-2", name: "Bea", language: "fr" },
    { id: "c-1", name: "Ada", language: "en" },
    { id: "c-3", name: "Cy", language: "en" },
  ];
  const catalog = DEFAULT_VOICE_CATALOG;
  const auraCount = AURA.voices?.length ?? 0;

  beforeEach(async () => {
    await env.KV_VOICE.delete(CARTESIA_VOICES_KEY);
  });

  function providers(options: { ai?: Ai; key?: string } = { ai: fakeAi(() => null).ai, key: "test-cartesia-key" }) {
    const settings = testSettings();
    return voiceProviders({ ...env, AI: options.ai } as VoiceEnv, {
      ...settings,
      cartesia: { ...settings.cartesia, apiKey: options.key },
    });
  }

  it("serves the second page from the KV cache with no provider call", async () => {
    const { seen } = fakeCartesia(() => Response.json({ data: CARTESIA_VOICES, has_more: false }));
    const all = providers();
    const first = await listVoices(env.KV_VOICE, all, catalog, {}, 3600);
    expect(first.data).toHaveLength(20);
    expect(first.data[0]).toMatchObject({ id: "amalthea", provider: "workers-ai", language: "en" });
    expect(first.next_cursor).toBe("20");
    expect(seen).toHaveLength(1);

    const last = await listVoices(env.KV_VOICE, all, catalog, { cursor: String(auraCount), limit: 20 }, 3600);
    expect(seen).toHaveLength(1);
    expect(last.data.map((v) => v.id)).toEqual(["c-1", "c-2", "c-3"]);
    expect(last.next_cursor).toBeNull();

    const french = await listVoices(env.KV_VOICE, all, catalog, { language: "fr-CA" }, 3600);
    expect(french.data.map((v) => v.id)).toEqual(["c-2"]);
    const onlyCartesia = await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia", limit: 2 }, 3600);
    expect(onlyCartesia).toEqual({
      data: [
        { id: "c-1", name: "Ada", provider: "cartesia", language: "en" },
        { id: "c-2", name: "Bea", provider: "cartesia", language: "fr" },
      ],
      next_cursor: "2",
    });
    expect(seen).toHaveLength(1);
  });

  it("refetches once the cached list is older than its TTL", async () => {
    const { seen } = fakeCartesia(() => Response.json({ data: CARTESIA_VOICES, has_more: false }));
    const all = providers();
    let now = 1_000_000;
    const clock = { now: () => now };
    await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 60, clock);
    now += 59_000;
    await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 60, clock);
    expect(seen).toHaveLength(1);
    now += 2_000;
    await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 60, clock);
    expect(seen).toHaveLength(2);
  });

  it("serves an expired copy when Cartesia cannot be listed", async () => {
    let up = true;
    const { seen } = fakeCartesia(() =>
      up ? Response.json({ data: CARTESIA_VOICES, has_more: false }) : cartesiaError(503, null),
    );
    const all = providers();
    let now = 5_000_000;
    const clock = { now: () => now };
    await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 60, clock);
    up = false;
    now += 120_000;
    const page = await listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 60, clock);
    expect(page.data.map((v) => v.id)).toEqual(["c-1", "c-2", "c-3"]);
    expect(seen).toHaveLength(2);
  });

  it("without Cartesia lists Workers AI alone; asked for Cartesia explicitly, it is a 503", async () => {
    const { seen } = fakeCartesia(() => cartesiaError(503, null));
    const all = providers();
    const page = await listVoices(env.KV_VOICE, all, catalog, { limit: 100 }, 3600);
    expect(page.data).toHaveLength(auraCount);
    expect(page.data.every((v) => v.provider === "workers-ai")).toBe(true);
    const error = await rejection(listVoices(env.KV_VOICE, all, catalog, { provider: "cartesia" }, 3600));
    expect(error.code).toBe("upstream_unavailable");
    expect(JSON.stringify(error)).not.toContain("secret provider detail");
    expect(seen.length).toBeGreaterThan(0);

    vi.restoreAllMocks();
    const none = fakeCartesia(() => Response.json([]));
    const unconfigured = await listVoices(env.KV_VOICE, providers({}), catalog, {}, 3600);
    expect(unconfigured).toEqual({ data: [], next_cursor: null });
    expect(none.seen).toHaveLength(0);
  });
});
