import { type FlagSet, FlagSetCache } from "@cognomega/shared";
import { FLAG_SET_KEY } from "./registry";
import { FLAGS_SETTINGS } from "./settings";

/** The set before any flag was ever written. */
export const EMPTY_FLAG_SET: FlagSet = { version: "0", flags: {} };

// One per KV binding per isolate: `snapshot()` answers from it while warm, so other workers'
// cache refreshes cost one KV read per TTL here, not one per call.
const caches = new WeakMap<object, FlagSetCache>();

/**
 * This isolate's cache of the published set in `env.KV_FLAGS`. `now` is the clock it is created
 * with (tests move it instead of sleeping); later calls return the same cache.
 */
export function publishedSetCache(env: FlagsEnv, now?: () => number): FlagSetCache {
  let cache = caches.get(env.KV_FLAGS);
  if (cache === undefined) {
    const kv = env.KV_FLAGS;
    cache = new FlagSetCache({
      ttlMs: FLAGS_SETTINGS.read(env).FLAGS_CACHE_TTL_SECONDS * 1000,
      load: async () => (await kv.get<FlagSet>(FLAG_SET_KEY, "json")) ?? EMPTY_FLAG_SET,
      ...(now === undefined ? {} : { now }),
    });
    caches.set(kv, cache);
  }
  return cache;
}
