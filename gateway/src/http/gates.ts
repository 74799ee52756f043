import { assertFeature, type FeatureGate, type FlagSet, gateValue, type Identity, logEvent } from "@cognomega/shared";
import type { RequestContext } from "./context";
import { currentFlagSet, derivedAttributes } from "./flag-context";

/**
 * 403 `feature_disabled` unless the feature gate is on for the caller. Evaluated here, from the
 * isolate's flag set (the one OFREP answers from: a warm gate is one in-memory evaluation and no
 * RPC, inside the ~2 ms a voice request's first byte may spend in the gateway), with the context
 * OFREP would build: the caller's account as `targetingKey` and the derived attributes. While the
 * flag set cannot be loaded at all, the gate answers its built-in default (on): a flags outage
 * never switches a feature off.
 */
export async function requireFeature(ctx: RequestContext, identity: Identity, gate: FeatureGate): Promise<void> {
  let set: FlagSet | undefined;
  try {
    set = await currentFlagSet(ctx);
  } catch (error) {
    logEvent("warn", "flag set unavailable; gates answer their defaults", { request_id: ctx.requestId, error });
  }
  const context = { ...derivedAttributes(ctx, identity), targetingKey: identity.sub };
  assertFeature(gate, gateValue(set, gate, context));
}
