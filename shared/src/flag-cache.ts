import type { EvaluationContext, FlagSet } from "./flags";
import type { CallContext, Identity } from "./identity";
import { FLAGS_CACHE_TTL_SECONDS, readSetting } from "./settings";

/** `FLAGS_CACHE_TTL_SECONDS`: how long an isolate evaluates from its copy of the flag set (declared in settings.ts). */
export function flagsCacheTtlSeconds(value: string | undefined): number {
  return readSetting("FLAGS_CACHE_TTL_SECONDS", FLAGS_CACHE_TTL_SECONDS, value);
}

/** How a FlagSetCache gets a set and tells the time. */
export interface FlagSetCacheOptions {
  /** Fetches the current set (an RPC to the flags worker, a KV read). */
  load: () => Promise<FlagSet>;
  /** How long a loaded set is served before the next call loads again. */
  ttlMs: number;
  /** The clock, in ms; tests move it instead of sleeping. */
  now?: () => number;
}

/**
 * One isolate's copy of the flag set. A warm `get()` answers from memory (no storage, no RPC);
 * after `ttlMs` the next call loads again, and concurrent callers share that one load. A failed
 * load keeps serving the last set (flags stay readable while their source is down) and is tried
 * again on the next call; with nothing loaded yet, the failure is thrown.
 */
export class FlagSetCache {
  private set: FlagSet | undefined;
  private loadedAt = 0;
  private pending: Promise<FlagSet> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: FlagSetCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The set, loading it when there is none or it is older than the TTL. */
  async get(): Promise<FlagSet> {
    if (this.set !== undefined && this.now() - this.loadedAt < this.options.ttlMs) return this.set;
    const shared = this.pending;
    if (shared !== undefined) {
      try {
        return await shared;
      } catch {
        // The load belonged to another request, which may have ended and cancelled it: try our own.
        return this.refresh();
      }
    }
    return this.refresh();
  }

  /** The set held now, if any, without loading. */
  peek(): FlagSet | undefined {
    return this.set;
  }

  /** Replaces the held set (a writer that just published it), restarting its TTL. */
  put(set: FlagSet): void {
    this.set = set;
    this.loadedAt = this.now();
  }

  /** Forgets the held set: the next `get()` loads. */
  clear(): void {
    this.set = undefined;
    this.loadedAt = 0;
  }

  private async refresh(): Promise<FlagSet> {
    const load = this.options.load().then(
      (set) => {
        this.put(set);
        return set;
      },
      (error: unknown) => {
        if (this.set !== undefined) return this.set;
        throw error;
      },
    );
    this.pending = load;
    try {
      return await load;
    } finally {
      if (this.pending === load) this.pending = undefined;
    }
  }
}

/** What a worker bound to the flags service can call: `snapshot()` (the FlagsService RPC). */
export interface FlagSnapshotSource {
  snapshot(call: CallContext): Promise<FlagSet>;
}

// One cache per binding per isolate, so a handler given other bindings (a test) never reads a
// cache filled through another one.
const isolateCaches = new WeakMap<object, FlagSetCache>();

/**
 * This isolate's FlagSetCache over a `FLAGS` service binding, created on first use with the TTL of
 * `ttlSeconds` (the worker's `FLAGS_CACHE_TTL_SECONDS`). Any worker that evaluates flags (the
 * gateway, SI, rag) calls this with its binding and evaluates from `get()`.
 */
export function isolateFlagSets(flags: FlagSnapshotSource, ttlSeconds: string | undefined): FlagSetCache {
  let cache = isolateCaches.get(flags);
  if (cache === undefined) {
    cache = new FlagSetCache({
      ttlMs: flagsCacheTtlSeconds(ttlSeconds) * 1000,
      load: () => flags.snapshot({ requestId: "flags-cache" }),
    });
    isolateCaches.set(flags, cache);
  }
  return cache;
}

/**
 * The context a service can build from an identity alone (no request at hand): the account as
 * `targetingKey` and the identity's `email_domain`. The gateway adds `country` and
 * `account_age_days`, which need the request.
 */
export function identityFlagContext(identity: Identity): EvaluationContext {
  const domain = identity.email?.split("@")[1];
  return domain ? { targetingKey: identity.sub, email_domain: domain } : { targetingKey: identity.sub };
}
