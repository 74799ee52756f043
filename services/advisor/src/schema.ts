import { type AdviceRequest, MAX_CREDITS, MICRO_PER_CREDIT, PROVIDERS, TIERS } from "@cognomega/shared";
import * as v from "valibot";

// Bounds chosen so every amount the advisor computes stays a safe integer: at most 10^8 tokens a
// side times at most 10^12 micro-credits per million tokens is at most 10^14 micro-credits a side.
/** Most tokens one side (input or output) of a served call may report. */
export const MAX_TOKENS = 100_000_000;
/** Highest price accepted, in micro-credits per million tokens (a million credits per 1M tokens). */
export const MAX_PRICE_PER_M = 1_000_000_000_000;
/** Longest latency accepted, in milliseconds (one day); beyond it the number is not a latency. */
export const MAX_LATENCY_MS = 86_400_000;
/** Most alternatives one request may list: a whole catalog, with room to spare. */
export const MAX_ALTERNATIVES = 500;

const ModelId = v.pipe(v.string("model must be a string"), v.minLength(1, "model must not be empty"), v.maxLength(128));
const Provider = v.picklist(PROVIDERS, `provider must be one of ${PROVIDERS.join(", ")}`);
const Tier = v.picklist(TIERS, `tier must be one of ${TIERS.join(", ")}`);
const Tokens = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_TOKENS));
// Prices are whole micro-credits per million tokens so the estimate can be computed exactly.
const PricePerM = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_PRICE_PER_M));
// Latencies may be fractional: an EWMA of observations usually is.
const Latency = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(MAX_LATENCY_MS));

const Served = v.object({
  model: ModelId,
  provider: Provider,
  tier: Tier,
  tokens_in: Tokens,
  tokens_out: Tokens,
  cost_micro: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_CREDITS * MICRO_PER_CREDIT)),
  latency_ms: Latency,
});

const Alternative = v.object({
  model: ModelId,
  provider: Provider,
  tier: Tier,
  price_in_per_m: PricePerM,
  price_out_per_m: PricePerM,
  latency_ms: v.optional(Latency),
});

/**
 * What `advise` accepts: the shared `AdviceRequest` contract, checked. Plain (not strict) objects:
 * SI may build the list from richer catalog entries, and unknown keys are dropped rather than
 * refused, so a new catalog field can never turn every answer's advice into an error.
 */
export const AdviceRequestSchema = v.pipe(
  v.object({
    served: Served,
    alternatives: v.pipe(v.array(Alternative), v.maxLength(MAX_ALTERNATIVES)),
  }),
  // A repeated provider+model would be offered twice; it means the caller's list is wrong.
  v.check(
    (request) =>
      new Set(request.alternatives.map((alternative) => `${alternative.provider}\u0000${alternative.model}`)).size ===
      request.alternatives.length,
    "alternatives must not repeat a provider and model",
  ),
);

// Compile-time proof that the checked value is the shared contract, so the two cannot drift apart.
const _matchesContract: (request: v.InferOutput<typeof AdviceRequestSchema>) => AdviceRequest = (request) => request;
void _matchesContract;
