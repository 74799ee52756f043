import {
  assertFeature,
  type FeatureGate,
  flagSetLoader,
  GateReader,
  type Identity,
  identityContext,
} from "@cognomega/shared";
import type { RequestContext } from "./context";

// One isolate's copy of the flag set: a warm gate is one in-memory evaluation, no RPC (a voice
// request's first byte has a budget of about 2 ms for everything the gateway adds).
const gates = new GateReader();

/**
 * 403 `feature_disabled` unless the feature gate is on for the caller, evaluated here from the
 * isolate's flag set with the caller's context (its account as `targetingKey`).
 */
export async function requireFeature(ctx: RequestContext, identity: Identity, gate: FeatureGate): Promise<void> {
  const on = await gates.value(
    gate,
    identityContext(identity),
    flagSetLoader(ctx.env.FLAGS),
    ctx.env.FLAGS_CACHE_TTL_SECONDS,
    ctx.call,
  );
  assertFeature(gate, on);
}
