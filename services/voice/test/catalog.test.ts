import { env } from "cloudflare:workers";
import type { VoiceCatalogEntry } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_VOICE_CATALOG,
  forgetVoiceCatalogCache,
  isCartesiaVoiceId,
  loadVoiceCatalog,
  resetVoiceCatalog,
  storeVoiceCatalog,
  sttCandidates,
  sttCostMicro,
  ttsCandidates,
  ttsCostMicro,
} from "../src/catalog";
import { rejection } from "./helpers";

const MODELS = DEFAULT_VOICE_CATALOG.models;
const byId = (id: string): VoiceCatalogEntry => {
  const found = MODELS.find((m) => m.id === id);
  if (!found) throw new Error(id);
  return found;
};
const SONIC = byId("cartesia/sonic-3");
const AURA = byId("workers-ai/aura-2-en");
const TURBO = byId("workers-ai/whisper-large-v3-turbo");
const INK = byId("cartesia/ink-whisper");
const UUID = "694f9389-aac1-45b6-b726-9d9369183238";

async function invalidAt(fn: () => unknown): Promise<{ code: string; path: string | undefined; message: string }> {
  const error = await rejection((async () => fn())());
  const issues = error.details?.issues as { path: string }[] | undefined;
  return { code: error.code, path: issues?.[0]?.path, message: error.message };
}

describe("text-to-speech candidates", () => {
  it("orders by priority then id, each with its resolved voice", () => {
    expect(ttsCandidates(MODELS, { format: "mp3" }).map((c) => [c.model.id, c.voice])).toEqual([
      ["cartesia/sonic-3", "a0e99841-438c-4a64-b679-ae501e7d6091"],
      ["workers-ai/aura-2-en", "luna"],
    ]);
    expect(ttsCandidates(MODELS, { format: "mp3" }, UUID).map((c) => c.voice)).toEqual([UUID, "luna"]);
    const tied = [{ ...AURA, id: "workers-ai/b", priority: 5 }, { ...AURA, id: "workers-ai/a", priority: 5 }, SONIC];
    expect(ttsCandidates(tied, { format: "wav" }).map((c) => c.model.id)).toEqual([
      "workers-ai/a",
      "workers-ai/b",
      "cartesia/sonic-3",
    ]);
  });

  it("pins a model by catalog id or by its unique provider name; unknown or speech-to-text is a 400 on model", async () => {
    expect(ttsCandidates(MODELS, { format: "mp3", model: "workers-ai/aura-2-en" }).map((c) => c.model.id)).toEqual([
      "workers-ai/aura-2-en",
    ]);
    expect(ttsCandidates(MODELS, { format: "mp3", model: "sonic-3" }).map((c) => c.model.id)).toEqual([
      "cartesia/sonic-3",
    ]);
    expect(await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", model: "sonic-9" }))).toMatchObject({
      code: "invalid_input",
      path: "model",
    });
    expect(
      await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", model: "workers-ai/whisper-large-v3-turbo" })),
    ).toMatchObject({ code: "invalid_input", path: "model" });
  });

  it("restricts by voice: a voice list speaks exactly those, Cartesia any lower-case UUID", async () => {
    expect(ttsCandidates(MODELS, { format: "mp3", voice: "orion" }).map((c) => [c.model.id, c.voice])).toEqual([
      ["workers-ai/aura-2-en", "orion"],
    ]);
    expect(ttsCandidates(MODELS, { format: "mp3", voice: UUID }).map((c) => [c.model.id, c.voice])).toEqual([
      ["cartesia/sonic-3", UUID],
    ]);
    for (const voice of ["nobody", UUID.toUpperCase(), `${UUID}0`, "alloy"]) {
      expect(await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", voice }))).toMatchObject({
        code: "invalid_input",
        path: "voice",
      });
    }
    expect(
      await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", voice: "orion", model: "cartesia/sonic-3" })),
    ).toMatchObject({ path: "voice" });
    expect(isCartesiaVoiceId(UUID)).toBe(true);
    expect(
      isCartesiaVoiceId(`${"a".repeat(8)}-${"b".repeat(4)}-${"c".repeat(4)}-${"d".repeat(4)}-${"e".repeat(11)}g`),
    ).toBe(false);
  });

  it("filters by format, language (primary subtag) and speed; nothing left is a 400 naming the field", async () => {
    const mp3OnlyAura = [SONIC, { ...AURA, formats: ["mp3" as const] }];
    expect(ttsCandidates(mp3OnlyAura, { format: "wav" }).map((c) => c.model.id)).toEqual(["cartesia/sonic-3"]);
    expect(await invalidAt(() => ttsCandidates(mp3OnlyAura, { format: "wav", voice: "orion" }))).toMatchObject({
      path: "format",
    });
    expect(ttsCandidates(MODELS, { format: "mp3", language: "fr" }).map((c) => c.model.id)).toEqual([
      "cartesia/sonic-3",
    ]);
    expect(ttsCandidates(MODELS, { format: "mp3", language: "pt-BR" }).map((c) => c.model.id)).toEqual([
      "cartesia/sonic-3",
    ]);
    expect(ttsCandidates(MODELS, { format: "mp3", language: "en-GB" }).map((c) => c.model.id)).toEqual([
      "cartesia/sonic-3",
      "workers-ai/aura-2-en",
    ]);
    expect(await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", language: "xh" }))).toMatchObject({
      path: "language",
    });
    expect(
      await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", voice: "luna", language: "de" })),
    ).toMatchObject({ path: "language" });
    expect(ttsCandidates(MODELS, { format: "pcm", speed: 1.2 }).map((c) => c.model.id)).toEqual(["cartesia/sonic-3"]);
    expect(await invalidAt(() => ttsCandidates(MODELS, { format: "mp3", voice: "orion", speed: 0.8 }))).toMatchObject({
      path: "speed",
    });
    const anyLanguage = [{ ...AURA, languages: [] }];
    expect(ttsCandidates(anyLanguage, { format: "mp3", language: "ja" })).toHaveLength(1);
  });
});

describe("speech-to-text candidates", () => {
  it("orders by priority, pins by id, refuses a text-to-speech model and an unheard language", async () => {
    expect(sttCandidates(MODELS, {}).map((m) => m.id)).toEqual([
      "workers-ai/whisper-large-v3-turbo",
      "cartesia/ink-whisper",
    ]);
    expect(sttCandidates(MODELS, { model: "cartesia/ink-whisper", language: "fr" }).map((m) => m.id)).toEqual([
      "cartesia/ink-whisper",
    ]);
    expect(await invalidAt(() => sttCandidates(MODELS, { model: "cartesia/sonic-3" }))).toMatchObject({
      path: "model",
    });
    const englishOnly = [{ ...TURBO, languages: ["en"] }];
    expect(await invalidAt(() => sttCandidates(englishOnly, { language: "fr" }))).toMatchObject({ path: "language" });
  });
});

describe("pricing", () => {
  it("prices characters exactly, rounding up", () => {
    // $50/M × 100 credits/USD = 5,000 credits/M = 5e9 micro/M; × 5,000 chars = 25,000,000 micro.
    expect(ttsCostMicro(SONIC, 5_000, 100)).toBe(25_000_000);
    // $30/M: 3e9 micro/M; one character is 3,000 micro.
    expect(ttsCostMicro(AURA, 5_000, 100)).toBe(15_000_000);
    expect(ttsCostMicro(AURA, 1, 100)).toBe(3_000);
    // $0.000001/M at 1 credit/USD: 1 micro per M characters, rounded up to 1.
    expect(ttsCostMicro({ ...AURA, usd_per_m_chars: 0.000001 }, 1, 1)).toBe(1);
    expect(ttsCostMicro({ ...AURA, usd_per_m_chars: 0.000001 }, 0, 1)).toBe(1);
    expect(ttsCostMicro({ ...AURA, usd_per_m_chars: 0 }, 5_000, 100)).toBe(0);
    // 100,000 chars × 5e13 micro/M (1e6 credits/USD) passes 2^53 in the product: still exact.
    expect(ttsCostMicro(SONIC, 100_000, 1_000_000)).toBe(5_000_000_000_000);
  });

  it("prices audio by the millisecond, rounding up", () => {
    // $0.00051/min × 100 = 51,000 micro per minute.
    expect(sttCostMicro(TURBO, 60_000, 100)).toBe(51_000);
    expect(sttCostMicro(TURBO, 90_500, 100)).toBe(76_925);
    expect(sttCostMicro(TURBO, 1_001, 100)).toBe(851);
    expect(sttCostMicro(TURBO, 1, 100)).toBe(1);
    expect(sttCostMicro(TURBO, 0, 100)).toBe(1);
    // $0.003/min × 100 = 300,000 micro per minute: 30 s is 150,000.
    expect(sttCostMicro(INK, 30_000, 100)).toBe(150_000);
    // 1 h at 3e9 micro/min (1e6 credits/USD): the product passes 2^53.
    expect(sttCostMicro(INK, 3_600_000, 1_000_000)).toBe(180_000_000_000);
  });
});

describe("stored catalog", () => {
  beforeEach(async () => {
    await env.KV_VOICE.delete("catalog");
    forgetVoiceCatalogCache();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await env.KV_VOICE.delete("catalog");
    forgetVoiceCatalogCache();
  });

  it("serves the default when KV holds nothing, and falls back (logged) when it holds a bad value", async () => {
    expect(await loadVoiceCatalog(env.KV_VOICE)).toEqual({ ...DEFAULT_VOICE_CATALOG, source: "default" });
    forgetVoiceCatalogCache();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await env.KV_VOICE.put("catalog", JSON.stringify({ models: [{ id: "x", kind: "tts" }] }));
    expect((await loadVoiceCatalog(env.KV_VOICE)).source).toBe("default");
    forgetVoiceCatalogCache();
    await env.KV_VOICE.put("catalog", "{not json");
    expect((await loadVoiceCatalog(env.KV_VOICE)).source).toBe("default");
    expect(log).toHaveBeenCalledTimes(2);
    expect(String(log.mock.calls[0]?.[0])).toContain("voice catalog override in KV is invalid");
  });

  it("stores a valid catalog, refuses a bad one with 400, and resets to the default", async () => {
    const override = { models: [{ ...SONIC, priority: 1 }, TURBO] };
    expect(await storeVoiceCatalog(env.KV_VOICE, override)).toEqual({ ...override, source: "kv" });
    expect(await loadVoiceCatalog(env.KV_VOICE)).toEqual({ ...override, source: "kv" });

    for (const bad of [
      { models: [] },
      { models: [{ ...SONIC, default_voice: undefined }] },
      { models: [SONIC, SONIC] },
      { models: [{ ...SONIC, extra: true }] },
      [SONIC],
    ]) {
      expect((await rejection(storeVoiceCatalog(env.KV_VOICE, bad))).code).toBe("invalid_input");
    }
    const sevenDecimals = await invalidAt(() =>
      storeVoiceCatalog(env.KV_VOICE, { models: [{ ...SONIC, usd_per_m_chars: 0.0000001 }] }),
    );
    expect(sevenDecimals).toMatchObject({ code: "invalid_input", path: "models.0.usd_per_m_chars" });
    const lostDefault = await invalidAt(() =>
      storeVoiceCatalog(env.KV_VOICE, { models: [{ ...AURA, default_voice: "nobody" }] }),
    );
    expect(lostDefault).toMatchObject({ code: "invalid_input", path: "models.0.default_voice" });
    expect((await loadVoiceCatalog(env.KV_VOICE)).source).toBe("kv");

    expect(await resetVoiceCatalog(env.KV_VOICE)).toEqual({ ...DEFAULT_VOICE_CATALOG, source: "default" });
    expect(await env.KV_VOICE.get("catalog")).toBeNull();
    expect((await loadVoiceCatalog(env.KV_VOICE)).source).toBe("default");
  });
});
