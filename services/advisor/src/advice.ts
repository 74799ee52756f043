import {
  type Advice,
  type AdviceAlternative,
  type AdviceRequest,
  formatCredits,
  microToCredits,
  type ProviderId,
} from "@cognomega/shared";
import type { Thresholds } from "./config";

/** Most alternatives one piece of advice lists: enough to choose from, short enough to read. */
export const MAX_SUGGESTIONS = 3;

/** Prices are per this many tokens. */
const TOKENS_PER_PRICE_UNIT = 1_000_000n;

/**
 * Micro-credits `tokens` cost at `pricePerM` micro-credits per million tokens, rounded up to a whole
 * micro-credit (a provider bill never rounds in the customer's favour). BigInt because the product
 * of two bounded inputs can pass 2^53 even when the quotient does not.
 */
export function tokenCostMicro(tokens: number, pricePerM: number): number {
  const product = BigInt(tokens) * BigInt(pricePerM);
  return Number((product + TOKENS_PER_PRICE_UNIT - 1n) / TOKENS_PER_PRICE_UNIT);
}

/** What the served call's token counts would have cost at another model's prices, in micro-credits. */
export function estimateCostMicro(
  served: Pick<AdviceRequest["served"], "tokens_in" | "tokens_out">,
  prices: Pick<AdviceRequest["alternatives"][number], "price_in_per_m" | "price_out_per_m">,
): number {
  // Each side is rounded up on its own, the way a per-direction price list is billed.
  return (
    tokenCostMicro(served.tokens_in, prices.price_in_per_m) + tokenCostMicro(served.tokens_out, prices.price_out_per_m)
  );
}

/**
 * The saving as a whole percent of what the served call cost, rounded down (so a saving is never
 * overstated, and a negative one, an extra cost, is never understated). 0 when the served call was
 * free: there is no base to take a percentage of.
 */
export function savingPercent(servedMicro: number, estimatedMicro: number): number {
  if (servedMicro <= 0) return 0;
  const numerator = BigInt(servedMicro - estimatedMicro) * 100n;
  const denominator = BigInt(servedMicro);
  const quotient = numerator / denominator; // BigInt division truncates toward zero...
  const floored = numerator % denominator !== 0n && numerator < 0n ? quotient - 1n : quotient; // ...floor wants down.
  return Number(floored);
}

/** One alternative with its estimate, before it is turned into credits for the answer. */
interface Candidate {
  model: string;
  provider: ProviderId;
  estimatedMicro: number;
  latencyMs?: number;
}

const byName = (a: Candidate, b: Candidate): number =>
  a.provider === b.provider ? compareText(a.model, b.model) : compareText(a.provider, b.provider);

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Unknown latency sorts last: a model never observed cannot be promised to be quick. */
function latencyOrder(a: Candidate, b: Candidate): number {
  if (a.latencyMs === undefined || b.latencyMs === undefined) {
    return (a.latencyMs === undefined ? 1 : 0) - (b.latencyMs === undefined ? 1 : 0);
  }
  return a.latencyMs - b.latencyMs;
}

function candidates(request: AdviceRequest): Candidate[] {
  const { served } = request;
  return (
    request.alternatives
      // The same model at another provider is a real alternative; only the exact one served is not.
      .filter((alternative) => !(alternative.provider === served.provider && alternative.model === served.model))
      .map((alternative) => ({
        model: alternative.model,
        provider: alternative.provider,
        estimatedMicro: estimateCostMicro(served, alternative),
        ...(alternative.latency_ms !== undefined ? { latencyMs: alternative.latency_ms } : {}),
      }))
  );
}

function toAlternative(candidate: Candidate, servedMicro: number): AdviceAlternative {
  const saving = servedMicro - candidate.estimatedMicro;
  return {
    model: candidate.model,
    provider: candidate.provider,
    estimated_credits: microToCredits(candidate.estimatedMicro),
    // Positive: cheaper than the served call. Negative (latency advice only): it costs that much more.
    estimated_saving_credits: microToCredits(saving),
    estimated_saving_percent: savingPercent(servedMicro, candidate.estimatedMicro),
    // EWMA latencies are fractional; an estimate to the millisecond is all a reader needs.
    ...(candidate.latencyMs !== undefined ? { estimated_latency_ms: Math.round(candidate.latencyMs) } : {}),
  };
}

const label = (candidate: { model: string; provider: ProviderId }): string =>
  `${candidate.model} (${candidate.provider})`;

function costAdvice(request: AdviceRequest, pool: Candidate[]): Advice | null {
  const servedMicro = request.served.cost_micro;
  const cheaper = pool
    .filter((candidate) => candidate.estimatedMicro < servedMicro)
    .sort((a, b) => a.estimatedMicro - b.estimatedMicro || latencyOrder(a, b) || byName(a, b))
    .slice(0, MAX_SUGGESTIONS);
  const best = cheaper[0];
  if (!best) return null;
  const saving = servedMicro - best.estimatedMicro;
  return {
    reason: "cost",
    message:
      `This call cost ${formatCredits(servedMicro)} credits on ${label(request.served)}; ` +
      `${label(best)} would have cost about ${formatCredits(best.estimatedMicro)}, ` +
      `saving ${formatCredits(saving)} credits (${savingPercent(servedMicro, best.estimatedMicro)}%).`,
    alternatives: cheaper.map((candidate) => toAlternative(candidate, servedMicro)),
  };
}

function latencyAdvice(request: AdviceRequest, pool: Candidate[]): Advice | null {
  const { served } = request;
  const faster = pool
    .filter((candidate) => candidate.latencyMs !== undefined && candidate.latencyMs < served.latency_ms)
    .sort((a, b) => latencyOrder(a, b) || a.estimatedMicro - b.estimatedMicro || byName(a, b))
    .slice(0, MAX_SUGGESTIONS);
  const best = faster[0];
  if (!best || best.latencyMs === undefined) return null;
  const saving = served.cost_micro - best.estimatedMicro;
  const price =
    saving > 0
      ? `saving ${formatCredits(saving)} credits`
      : saving < 0
        ? `costing about ${formatCredits(-saving)} credits more`
        : "at about the same cost";
  return {
    reason: "latency",
    message:
      `This call took ${Math.round(served.latency_ms)} ms on ${label(served)}; ` +
      `${label(best)} usually answers in about ${Math.round(best.latencyMs)} ms, ${price}.`,
    alternatives: faster.map((candidate) => toAlternative(candidate, served.cost_micro)),
  };
}

/**
 * Advice for one served call, or null when it crossed no threshold or nothing better exists.
 *
 * Cost takes precedence: money is what the user asked to be warned about first. When the call was
 * expensive but no cheaper model exists, a slow call still gets latency advice, because "nothing
 * cheaper" is no reason to hide "something faster".
 */
export function adviseOn(request: AdviceRequest, limits: Thresholds): Advice | null {
  const pool = candidates(request);
  const overCost = request.served.cost_micro > limits.costMicro;
  const overLatency = request.served.latency_ms > limits.latencyMs;
  return (overCost ? costAdvice(request, pool) : null) ?? (overLatency ? latencyAdvice(request, pool) : null);
}
