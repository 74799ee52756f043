import { ServiceError } from "./errors";
import { type FlagSnapshotSource, isolateFlagSets } from "./flag-cache";
import { type GateFlagKey, type GateFlagValues, gateValue } from "./flag-gates";
import type { EvaluationContext, FlagSet } from "./flags";
import type { CallContext } from "./identity";
import { logEvent } from "./log";

/** The gates that switch a whole feature off (boolean flags, `on` by default). */
export type FeatureGate = "voice.enabled" | "scaffold.enabled" | "rag.hybrid";

/**
 * A gate's value for `context`, from this isolate's copy of the flag set behind the worker's `FLAGS`
 * binding (`isolateFlagSets`: loaded at most once per `FLAGS_CACHE_TTL_SECONDS`, so a warm gate is
 * one in-memory evaluation and no RPC). When no set can be loaded and none is held, the gate's
 * built-in default: a flags outage never switches a feature off. `flags` is the binding itself,
 * taken as `unknown` because its generated RPC type (recursive JSON) is too deep for TypeScript to
 * compare (TS2589).
 */
export async function gateFor<K extends GateFlagKey>(
  flags: unknown,
  ttlSetting: string | undefined,
  key: K,
  context: EvaluationContext,
  call: CallContext,
): Promise<GateFlagValues[K]> {
  let set: FlagSet | undefined;
  try {
    set = await isolateFlagSets(flags as FlagSnapshotSource, ttlSetting).get();
  } catch (error) {
    logEvent("warn", "flag set unavailable; gates answer their defaults", { request_id: call.requestId, error });
  }
  return gateValue(set, key, context);
}

/** Throws 403 `feature_disabled` (naming the flag) unless `value`, a feature gate's, is on. */
export function assertFeature(gate: FeatureGate, value: boolean): void {
  if (value) return;
  const feature = gate.slice(0, gate.indexOf("."));
  throw new ServiceError("feature_disabled", `${feature} is not enabled for this account`, { flag: gate });
}
