import { describe, expect, it } from "vitest";
import { FlagSetCache, flagsCacheTtlSeconds, identityFlagContext, isolateFlagSets } from "../src/flag-cache";
import type { FlagSet } from "../src/flags";

function counted(sets: (FlagSet | Error)[]) {
  const state = { loads: 0 };
  const load = async (): Promise<FlagSet> => {
    const next = sets[Math.min(state.loads, sets.length - 1)] as FlagSet | Error;
    state.loads += 1;
    if (next instanceof Error) throw next;
    return next;
  };
  return { state, load };
}

const v1: FlagSet = { version: "1", flags: {} };
const v2: FlagSet = { version: "2", flags: {} };

describe("FlagSetCache", () => {
  it("loads once while warm and again once the TTL has passed", async () => {
    let now = 0;
    const { state, load } = counted([v1, v2]);
    const cache = new FlagSetCache({ load, ttlMs: 30_000, now: () => now });
    expect(await cache.get()).toBe(v1);
    now = 29_999;
    expect(await cache.get()).toBe(v1);
    expect(state.loads).toBe(1);
    now = 30_000;
    expect(await cache.get()).toBe(v2);
    expect(state.loads).toBe(2);
  });

  it("shares one load between concurrent callers", async () => {
    let release: (set: FlagSet) => void = () => {};
    let loads = 0;
    const cache = new FlagSetCache({
      ttlMs: 1000,
      load: () => {
        loads += 1;
        return new Promise<FlagSet>((resolve) => {
          release = resolve;
        });
      },
    });
    const waiting = Promise.all([cache.get(), cache.get(), cache.get()]);
    release(v1);
    expect(await waiting).toEqual([v1, v1, v1]);
    expect(loads).toBe(1);
  });

  it("serves the last set when a reload fails, and throws when it has none", async () => {
    let now = 0;
    const { load } = counted([new Error("down"), v1, new Error("down again"), v2]);
    const cache = new FlagSetCache({ load, ttlMs: 10, now: () => now });
    await expect(cache.get()).rejects.toThrow("down");
    expect(await cache.get()).toBe(v1);
    now = 10;
    expect(await cache.get()).toBe(v1);
    expect(await cache.get()).toBe(v2);
  });

  it("takes a put set at once and forgets on clear", async () => {
    const { state, load } = counted([v1]);
    const cache = new FlagSetCache({ load, ttlMs: 60_000 });
    cache.put(v2);
    expect(await cache.get()).toBe(v2);
    cache.clear();
    expect(cache.peek()).toBeUndefined();
    expect(await cache.get()).toBe(v1);
    expect(state.loads).toBe(1);
  });

  it("reads FLAGS_CACHE_TTL_SECONDS with a default of 30", () => {
    expect(flagsCacheTtlSeconds(undefined)).toBe(30);
    expect(flagsCacheTtlSeconds("5")).toBe(5);
    expect(() => flagsCacheTtlSeconds("-1")).toThrow("FLAGS_CACHE_TTL_SECONDS");
  });

  it("keeps one isolate cache per binding, loading through snapshot()", async () => {
    let calls = 0;
    const binding = {
      snapshot: async () => {
        calls += 1;
        return v1;
      },
    };
    const cache = isolateFlagSets(binding, "60");
    expect(isolateFlagSets(binding, "60")).toBe(cache);
    expect(isolateFlagSets({ snapshot: async () => v2 }, "60")).not.toBe(cache);
    expect(await cache.get()).toBe(v1);
    expect(await isolateFlagSets(binding, "60").get()).toBe(v1);
    expect(calls).toBe(1);
  });

  it("builds a service's context from an identity", () => {
    expect(identityFlagContext({ sub: "email:a@b.test", email: "a@b.test", source: "header", admin: false })).toEqual({
      targetingKey: "email:a@b.test",
      email_domain: "b.test",
    });
    expect(identityFlagContext({ sub: "guest:1", source: "jwt", admin: false })).toEqual({ targetingKey: "guest:1" });
  });
});
