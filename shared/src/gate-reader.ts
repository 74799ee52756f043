import { ServiceError } from "./errors";
import { FlagSetCache, flagsCacheTtlSeconds } from "./flag-cache";
import { type GateFlagKey, type GateFlagValues, gateValue } from "./flag-gates";
import type { EvaluationContext, FlagSet } from "./flags";
import type { CallContext, Identity } from "./identity";

/**
 * Loads the whole flag set, to evaluate locally: a worker's `FLAGS.snapshot(call)`. A function
 * rather than the binding itself, since the binding's RPC types are too deep to compare.
 */
export type FlagSetLoader = (call: CallContext) => Promise<FlagSet>;

/**
 * The loader of a worker's `FLAGS` binding (a `Service<FlagsService>`). Taken as `unknown`: the
 * generated RPC type of `snapshot()`'s recursive JSON is too deep for TypeScript to instantiate
 * (TS2589) wherever it is called or compared, so it is called through the shape it has.
 */
export function flagSetLoader(binding: unknown): FlagSetLoader {
  const flags = binding as { snapshot(call: CallContext): Promise<FlagSet> };
  return (call) => flags.snapshot(call);
}

/** The gates that switch a whole feature off (boolean flags, `on` by default). */
export type FeatureGate = "voice.enabled" | "scaffold.enabled" | "rag.hybrid";

/**
 * One isolate's reader of the mesh's gates: the flag set is loaded through the worker's `FLAGS`
 * binding at most once per `FLAGS_CACHE_TTL_SECONDS`, so a warm gate costs one in-memory evaluation
 * and no RPC (voice's first-byte budget is a few milliseconds). When the set cannot be loaded and
 * none is held, gates answer their built-in defaults: a flags outage never switches a feature off.
 */
export class GateReader {
  private cache: FlagSetCache | undefined;
  private load: FlagSetLoader | undefined;
  private call: CallContext | undefined;

  /**
   * The flag set this isolate holds, loaded with `load` when it is missing or older than the TTL
   * (`ttlSetting`, read on first use); undefined when it cannot be loaded.
   */
  async flagSet(load: FlagSetLoader, ttlSetting: string | undefined, call: CallContext): Promise<FlagSet | undefined> {
    // The binding and the request of the latest caller load the next set: a load outlives no request.
    this.load = load;
    this.call = call;
    this.cache ??= new FlagSetCache({
      load: () => (this.load as FlagSetLoader)(this.call as CallContext),
      ttlMs: flagsCacheTtlSeconds(ttlSetting) * 1000,
    });
    try {
      return await this.cache.get();
    } catch (error) {
      console.log(
        JSON.stringify({
          level: "warn",
          msg: "flag set unavailable; gates answer their defaults",
          request_id: call.requestId,
          error: String(error),
        }),
      );
      return undefined;
    }
  }

  /** A gate's value for `context`, from the isolate's set (its built-in default when undefined). */
  async value<K extends GateFlagKey>(
    key: K,
    context: EvaluationContext,
    load: FlagSetLoader,
    ttlSetting: string | undefined,
    call: CallContext,
  ): Promise<GateFlagValues[K]> {
    return gateValue(await this.flagSet(load, ttlSetting, call), key, context);
  }

  /** Replaces the held set (a writer in this isolate just published it). */
  put(set: FlagSet): void {
    this.cache?.put(set);
  }

  /** Forgets the held set (tests). */
  clear(): void {
    this.cache?.clear();
  }
}

/**
 * The evaluation context a service can build for a gate from the identity it was given: the account
 * as `targetingKey` and its email's domain. The gateway adds what only it knows (country, the
 * client's attributes); a service passes what it has.
 */
export function identityContext(identity: Identity): EvaluationContext {
  const context: EvaluationContext = { targetingKey: identity.sub };
  const at = identity.email?.lastIndexOf("@") ?? -1;
  if (identity.email !== undefined && at >= 0) context.email_domain = identity.email.slice(at + 1).toLowerCase();
  return context;
}

/** Throws 403 `feature_disabled` unless `value` (a feature gate's) is on. */
export function assertFeature(gate: FeatureGate, value: boolean): void {
  if (value) return;
  const feature = gate.slice(0, gate.indexOf("."));
  throw new ServiceError("feature_disabled", `${feature} is not enabled for this account`, { flag: gate });
}
