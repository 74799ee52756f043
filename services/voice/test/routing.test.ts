import { env } from "cloudflare:workers";
import { CIRCUIT_COOLDOWN_MS, type VoiceProviderId } from "@cognomega/shared";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_VOICE_CATALOG, sttCandidates, type TtsCandidate, ttsCandidates } from "../src/catalog";
import { voiceProviders } from "../src/providers/index";
import type { VoiceProvider } from "../src/providers/types";
import { type FallbackOptions, voiceCircuits, withFallback } from "../src/routing";
import { cartesiaError, controlledBody, fakeAi, fakeCartesia, readAll, rejection, testSettings } from "./helpers";

const AUDIO = new Uint8Array([5, 6, 7]);
const busy = () => {
  throw new Error("3040: Capacity temporarily exceeded, please try again.");
};

/** The real providers: Cartesia with the test key (or none: `null`), Workers AI on `ai`. */
function providers(ai: Ai | undefined, key: string | null = "test-cartesia-key") {
  const settings = testSettings();
  return voiceProviders({ ...env, AI: ai } as VoiceEnv, {
    ...settings,
    cartesia: { ...settings.cartesia, apiKey: key ?? undefined },
  });
}

/** Cartesia first (the default catalog's order), then Aura. */
const cartesiaFirst = () => ttsCandidates(DEFAULT_VOICE_CATALOG.models, { format: "mp3" });
const auraFirst = () => [...cartesiaFirst()].reverse();

function speak(candidate: TtsCandidate, provider: VoiceProvider, signal: AbortSignal) {
  return provider.speak({ model: candidate.model, text: "Hello", voice: candidate.voice, format: "mp3", signal });
}

/** Options with a test clock and a sleep that records what it was asked to wait (and waits not). */
function clocked(extra: Partial<FallbackOptions> = {}) {
  const waits: number[] = [];
  let time = 10_000_000;
  const options: FallbackOptions = {
    budgetMs: 5_000,
    attemptTimeoutMs: 1_000,
    now: () => time,
    sleep: async (ms) => {
      waits.push(ms);
      time += ms;
    },
    ...extra,
  };
  return { options, waits, advance: (ms: number) => (time += ms) };
}

/** The outcomes of a routed failure's attempts. */
function outcomesOf(details: Record<string, unknown> | undefined): string[] {
  return ((details?.attempts ?? []) as { outcome: string }[]).map((a) => a.outcome);
}

beforeEach(() => voiceCircuits.reset());
afterEach(() => vi.restoreAllMocks());

describe("fallback", () => {
  it("falls back to Workers AI when Cartesia answers 503 (after one retry)", async () => {
    const { seen } = fakeCartesia(() => cartesiaError(503, null));
    const { ai, calls } = fakeAi(() => AUDIO);
    const { options, waits } = clocked();
    const routed = await withFallback(cartesiaFirst(), providers(ai), speak, options);
    expect(routed.model.id).toBe("workers-ai/aura-2-en");
    expect(routed.candidate.voice).toBe("luna");
    expect([...(await readAll(routed.value.body))]).toEqual([5, 6, 7]);
    expect(routed.attempts.map((a) => [a.provider, a.outcome, a.status])).toEqual([
      ["cartesia", "server_error", 503],
      ["cartesia", "server_error", 503],
      ["workers-ai", "ok", undefined],
    ]);
    expect(seen).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(calls[0]?.inputs.speaker).toBe("luna");
    expect(voiceCircuits.failures("cartesia/sonic-3")).toBe(2);
    expect(voiceCircuits.failures("workers-ai/aura-2-en")).toBe(0);
  });

  it("falls back to Cartesia when the AI binding is out of capacity (3040)", async () => {
    const { seen } = fakeCartesia(() => new Response(AUDIO));
    const { ai, calls } = fakeAi(busy);
    const routed = await withFallback(auraFirst(), providers(ai), speak, clocked().options);
    expect(routed.model.id).toBe("cartesia/sonic-3");
    expect(routed.model.provider).toBe("cartesia");
    expect(calls).toHaveLength(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.json?.voice).toEqual({ mode: "id", id: "a0e99841-438c-4a64-b679-ae501e7d6091" });
    expect(routed.attempts.map((a) => a.outcome)).toEqual(["rate_limited", "rate_limited", "ok"]);
  });

  it("honours Retry-After when it fits the budget", async () => {
    const { seen } = fakeCartesia((_, i) =>
      i === 0 ? cartesiaError(429, "concurrency_limited", { "retry-after": "2" }) : new Response(AUDIO),
    );
    const { ai, calls } = fakeAi(() => AUDIO);
    const { options, waits } = clocked();
    const routed = await withFallback(cartesiaFirst(), providers(ai), speak, options);
    expect(routed.model.id).toBe("cartesia/sonic-3");
    expect(waits).toEqual([2000]);
    expect(seen).toHaveLength(2);
    expect(calls).toHaveLength(0);
    expect(routed.attempts[0]).toMatchObject({
      outcome: "rate_limited",
      status: 429,
      provider_code: "concurrency_limited",
    });
  });

  it.each([
    ["beyond the most it waits", "10", 20_000],
    ["beyond the remaining budget", "3", 2_000],
  ])("falls back instead of waiting a Retry-After %s", async (_, retryAfter, budgetMs) => {
    const { seen } = fakeCartesia(() => cartesiaError(429, "concurrency_limited", { "retry-after": retryAfter }));
    const { ai } = fakeAi(() => AUDIO);
    const { options, waits } = clocked({ budgetMs });
    const routed = await withFallback(cartesiaFirst(), providers(ai), speak, options);
    expect(routed.model.id).toBe("workers-ai/aura-2-en");
    expect(waits).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it("times out an attempt that does not answer, then falls back", async () => {
    fakeCartesia(() => new Response(AUDIO));
    const { ai, calls } = fakeAi(() => new Promise(() => {}));
    const { options } = clocked({ attemptTimeoutMs: 30 });
    const routed = await withFallback(auraFirst(), providers(ai), speak, options);
    expect(routed.model.id).toBe("cartesia/sonic-3");
    expect(routed.attempts.map((a) => a.outcome)).toEqual(["timeout", "timeout", "ok"]);
    expect(calls).toHaveLength(2);
  });

  it("does not cut a stream once its headers are in: the attempt timer stops when run resolves", async () => {
    const body = controlledBody();
    const { seen } = fakeCartesia(() => new Response(body.stream));
    const routed = await withFallback(cartesiaFirst(), providers(undefined), speak, {
      budgetMs: 1_000,
      attemptTimeoutMs: 20,
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(seen[0]?.signal?.aborted).toBe(false);
    body.push(new Uint8Array([1]));
    body.close();
    expect([...(await readAll(routed.value.body))]).toEqual([1]);
  });

  it("ties the stream to the caller's abort", async () => {
    const body = controlledBody();
    const { seen } = fakeCartesia(() => new Response(body.stream));
    const caller = new AbortController();
    await withFallback(cartesiaFirst(), providers(undefined), speak, {
      budgetMs: 1_000,
      attemptTimeoutMs: 1_000,
      signal: caller.signal,
    });
    expect(seen[0]?.signal?.aborted).toBe(false);
    caller.abort();
    expect(seen[0]?.signal?.aborted).toBe(true);
  });
});

describe("transcription", () => {
  it("routes catalog entries directly: Whisper out of capacity, Cartesia Ink hears it", async () => {
    const { seen } = fakeCartesia(() => Response.json({ text: "hi", duration: 0.5, language: "en", words: [] }));
    const { ai, calls } = fakeAi(busy);
    const routed = await withFallback(
      sttCandidates(DEFAULT_VOICE_CATALOG.models, {}),
      providers(ai),
      (model, provider, signal) =>
        provider.transcribe({ model, audio: new Uint8Array([1]), contentType: "audio/wav", signal }),
      clocked().options,
    );
    expect(routed.model.id).toBe("cartesia/ink-whisper");
    expect(routed.value).toEqual({ text: "hi", language: "en", durationS: 0.5, words: [] });
    expect(calls).toHaveLength(2);
    expect(seen[0]?.form?.get("model")).toBe("ink-whisper");
  });
});

describe("circuit breaker", () => {
  it("opens after 3 failures, skips the model, and lets one call through after the cool-down", async () => {
    let cartesiaUp = false;
    const { seen } = fakeCartesia(() => (cartesiaUp ? new Response(AUDIO) : cartesiaError(500, null)));
    const { ai } = fakeAi(() => AUDIO);
    const all = providers(ai);
    const { options, advance } = clocked();

    const first = await withFallback(cartesiaFirst(), all, speak, options);
    expect(first.attempts.map((a) => a.outcome)).toEqual(["server_error", "server_error", "ok"]);
    // The third failure opens the circuit: no retry into an open circuit.
    const second = await withFallback(cartesiaFirst(), all, speak, options);
    expect(second.attempts.map((a) => a.outcome)).toEqual(["server_error", "ok"]);
    expect(seen).toHaveLength(3);

    const third = await withFallback(cartesiaFirst(), all, speak, options);
    expect(third.attempts.map((a) => [a.model, a.outcome])).toEqual([
      ["cartesia/sonic-3", "skipped_circuit_open"],
      ["workers-ai/aura-2-en", "ok"],
    ]);
    expect(seen).toHaveLength(3);

    advance(CIRCUIT_COOLDOWN_MS + 1);
    cartesiaUp = true;
    const fourth = await withFallback(cartesiaFirst(), all, speak, options);
    expect(fourth.model.id).toBe("cartesia/sonic-3");
    expect(seen).toHaveLength(4);
    expect(voiceCircuits.state("cartesia/sonic-3", options.now?.() ?? 0)).toBe("closed");
  });

  it("answers 503 upstream_unavailable when every circuit is open", async () => {
    fakeCartesia(() => cartesiaError(500, null));
    const { ai } = fakeAi(() => AUDIO);
    const { options } = clocked();
    const now = options.now?.() ?? 0;
    for (let i = 0; i < 3; i++) {
      voiceCircuits.recordFailure("cartesia/sonic-3", "server_error", now);
      voiceCircuits.recordFailure("workers-ai/aura-2-en", "server_error", now);
    }
    const error = await rejection(withFallback(cartesiaFirst(), providers(ai), speak, options));
    expect(error.code).toBe("upstream_unavailable");
    expect(outcomesOf(error.details)).toEqual(["skipped_circuit_open", "skipped_circuit_open"]);
  });
});

describe("when nothing answers", () => {
  it("stops at a client error without falling back, keeping the provider's words out", async () => {
    const { seen } = fakeCartesia(() => cartesiaError(400, "invalid_transcript"));
    const { ai, calls } = fakeAi(() => AUDIO);
    const error = await rejection(withFallback(cartesiaFirst(), providers(ai), speak, clocked().options));
    expect(error.code).toBe("invalid_input");
    expect(error.message).toBe("cartesia refused the request: invalid_transcript");
    expect(error.details?.provider_code).toBe("invalid_transcript");
    expect(JSON.stringify(error.details)).not.toContain("secret provider detail");
    expect(seen).toHaveLength(1);
    expect(calls).toHaveLength(0);
    expect(voiceCircuits.failures("cartesia/sonic-3")).toBe(0);
  });

  it("is 503 not_configured when no candidate's provider is configured (no key, no binding, or offline)", async () => {
    const { seen } = fakeCartesia(() => new Response(AUDIO));
    const error = await rejection(withFallback(cartesiaFirst(), providers(undefined, null), speak, clocked().options));
    expect(error.code).toBe("not_configured");
    expect(error.status).toBe(503);
    expect(error.message).toContain("CARTESIA_API_KEY");
    const offline = fakeAi(() => {
      throw new Error("Binding AI needs to be run remotely");
    });
    const offlineError = await rejection(
      withFallback(cartesiaFirst(), providers(offline.ai, null), speak, clocked().options),
    );
    expect(offlineError.code).toBe("not_configured");
    expect(outcomesOf(offlineError.details)).toEqual(["skipped_unconfigured", "skipped_unconfigured"]);
    expect(seen).toHaveLength(0);
  });

  it("is 502 upstream_error after server errors and rejections, with provider codes only", async () => {
    fakeCartesia(() => cartesiaError(401, "invalid_api_key"));
    const { ai } = fakeAi(() => {
      throw new Error("5000: internal failure with secret provider detail");
    });
    const error = await rejection(withFallback(cartesiaFirst(), providers(ai), speak, clocked().options));
    expect(error.code).toBe("upstream_error");
    expect(error.details?.provider_codes).toEqual(["invalid_api_key"]);
    expect(JSON.stringify(error.details)).not.toContain("secret provider detail");
  });

  it("is 503 upstream_unavailable with retry_after when the last failure was a rate limit", async () => {
    fakeCartesia(() => cartesiaError(429, "concurrency_limited", { "retry-after": "30" }));
    const { ai } = fakeAi(busy);
    const error = await rejection(withFallback(auraFirst(), providers(ai), speak, clocked().options));
    expect(error.code).toBe("upstream_unavailable");
    expect(error.details?.retry_after).toBe(30);
  });

  it("makes no attempt for a caller who has already gone", async () => {
    const { seen } = fakeCartesia(() => new Response(AUDIO));
    const caller = new AbortController();
    caller.abort();
    const error = await rejection(
      withFallback(cartesiaFirst(), providers(undefined), speak, { ...clocked().options, signal: caller.signal }),
    );
    expect(error.code).toBe("upstream_unavailable");
    expect(seen).toHaveLength(0);
  });

  it("rethrows what is not a provider failure", async () => {
    const broken = {
      cartesia: { id: "cartesia", configured: () => ({ ok: true }) },
    } as unknown as Record<VoiceProviderId, VoiceProvider>;
    const error = await rejection(
      withFallback(
        cartesiaFirst().slice(0, 1),
        broken,
        async () => {
          throw new TypeError("a bug");
        },
        clocked().options,
      ),
    );
    expect((error as unknown as Error).name).toBe("TypeError");
  });
});
