import type { Advice, AdviceThresholds, CallContext } from "@cognomega/shared";
import { logEvent } from "@cognomega/shared";
import type { CallOutcome } from "./ask";
import type { CatalogModel } from "./catalog";
import { providers } from "./providers";
import { routerState } from "./router";

/** How long this instance trusts the advisor's thresholds before asking again. */
const THRESHOLDS_TTL_MS = 60_000;
let knownThresholds: { at: number; value: AdviceThresholds } | undefined;

/**
 * The advisor's thresholds, cached per isolate (a value, not a promise: no request waits on another's
 * call); undefined (ask for advice every time) when they cannot be read.
 */
async function adviceThresholds(
  advisor: NonNullable<SiEnv["ADVISOR"]>,
  call: CallContext,
): Promise<AdviceThresholds | undefined> {
  const now = Date.now();
  if (knownThresholds && now - knownThresholds.at < THRESHOLDS_TTL_MS) return knownThresholds.value;
  try {
    const value = await advisor.thresholds(call);
    knownThresholds = { at: now, value };
    return value;
  } catch {
    return undefined;
  }
}

/** Cheaper or faster alternatives for a served call, from the advisor (when bound); never fails the call. */
export async function advise(
  env: SiEnv,
  outcome: Pick<CallOutcome, "model" | "usage" | "creditsMicro" | "latencyMs">,
  models: CatalogModel[],
  call: CallContext,
): Promise<Advice | null> {
  if (!env.ADVISOR) return null;
  const limits = await adviceThresholds(env.ADVISOR, call);
  // Below both thresholds no advice can come back: skip building the request and the round trip.
  if (limits && outcome.creditsMicro <= limits.cost_micro && outcome.latencyMs <= limits.latency_ms) return null;
  const available = providers(env);
  try {
    return await env.ADVISOR.advise(
      {
        served: {
          model: outcome.model.id,
          provider: outcome.model.provider,
          tier: outcome.model.tier,
          tokens_in: outcome.usage.tokens_in,
          tokens_out: outcome.usage.tokens_out,
          cost_micro: outcome.creditsMicro,
          latency_ms: Math.round(outcome.latencyMs),
        },
        alternatives: models
          .filter((m) => m.id !== outcome.model.id && available[m.provider].configured().ok)
          .map((m) => {
            const latency = routerState.get(m.id).latencyMs;
            return {
              model: m.id,
              provider: m.provider,
              tier: m.tier,
              price_in_per_m: m.priceInPerM,
              price_out_per_m: m.priceOutPerM,
              ...(latency === undefined ? {} : { latency_ms: Math.round(latency) }),
            };
          }),
      },
      call,
    );
  } catch (error) {
    logEvent("warn", "advisor failed", { request_id: call.requestId, error });
    return null;
  }
}
