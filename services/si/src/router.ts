import {
  CircuitBreakers,
  type CircuitState,
  type FailureKind,
  type ProviderId,
  type RoutingPolicy,
  type Tier,
} from "@cognomega/shared";
import { type CatalogModel, callCost } from "./catalog";

export { backoffMs, CIRCUIT_COOLDOWN_MS, CIRCUIT_THRESHOLD, MAX_RETRY_AFTER_WAIT_MS } from "@cognomega/shared";

const EWMA_ALPHA = 0.2;
/** What a provider is assumed to take before it has been observed. */
const LATENCY_PRIOR_MS: Record<ProviderId, number> = { groq: 400, "workers-ai": 900, openai: 1200 };

/** What this isolate has observed of one model. */
export interface ModelStats {
  latencyMs?: number;
  ttftMs?: number;
  errorRate: number;
}

/**
 * Observed latency (EWMA, with time to first token for streams), error rate and circuit state per
 * model. Per isolate: each isolate learns from its own traffic, so no write happens per call.
 */
export class RouterState {
  private readonly stats = new Map<string, ModelStats>();
  private readonly circuits = new CircuitBreakers();

  get(id: string): ModelStats {
    let entry = this.stats.get(id);
    if (!entry) {
      entry = { errorRate: 0 };
      this.stats.set(id, entry);
    }
    return entry;
  }

  recordSuccess(id: string, latencyMs: number, ttftMs?: number): void {
    const s = this.get(id);
    s.latencyMs = s.latencyMs === undefined ? latencyMs : s.latencyMs + EWMA_ALPHA * (latencyMs - s.latencyMs);
    if (ttftMs !== undefined) s.ttftMs = s.ttftMs === undefined ? ttftMs : s.ttftMs + EWMA_ALPHA * (ttftMs - s.ttftMs);
    s.errorRate *= 1 - EWMA_ALPHA;
    this.circuits.recordSuccess(id);
  }

  /** Counts a failure; `client_error` says nothing about the provider and is not counted. */
  recordFailure(id: string, kind: FailureKind, now: number): void {
    if (kind === "client_error") return;
    const s = this.get(id);
    s.errorRate = s.errorRate + EWMA_ALPHA * (1 - s.errorRate);
    this.circuits.recordFailure(id, kind, now);
  }

  /** Open: skip it. After the cool-down one call goes through (half-open); a failure re-opens it. */
  circuit(id: string, now: number): CircuitState {
    return this.circuits.state(id, now);
  }

  expectedLatency(model: CatalogModel): number {
    return this.get(model.id).latencyMs ?? LATENCY_PRIOR_MS[model.provider];
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.stats.clear();
    this.circuits.reset();
  }
}

/** One isolate's router memory. */
export const routerState = new RouterState();

export interface RankInput {
  policy: RoutingPolicy;
  tier: Tier;
  tokensIn: number;
  maxTokens: number;
}

/**
 * Orders candidate models for a call: models of the wanted tier first, then the others as
 * fallbacks, each group ranked by the policy. `cheapest` ranks by the call's worst-case cost,
 * `fastest` by observed latency, `balanced` by both (normalised to the best candidate), and every
 * score is worsened by the model's recent error rate.
 */
export function rankCandidates(models: CatalogModel[], input: RankInput, state: RouterState): CatalogModel[] {
  if (models.length === 0) return [];
  const cost = new Map(models.map((m) => [m.id, callCost(m, input.tokensIn, input.maxTokens)]));
  const latency = new Map(models.map((m) => [m.id, state.expectedLatency(m)]));
  const minCost = Math.max(1, Math.min(...cost.values()));
  const minLatency = Math.max(1, Math.min(...latency.values()));
  const score = (m: CatalogModel): number => {
    const c = (cost.get(m.id) ?? 0) / minCost;
    const l = (latency.get(m.id) ?? 0) / minLatency;
    const base = input.policy === "cheapest" ? c : input.policy === "fastest" ? l : 0.5 * c + 0.5 * l;
    return base * (1 + 2 * state.get(m.id).errorRate);
  };
  const byScore = (a: CatalogModel, b: CatalogModel) => score(a) - score(b) || a.id.localeCompare(b.id);
  const wanted = models.filter((m) => m.tier === input.tier).sort(byScore);
  const others = models.filter((m) => m.tier !== input.tier).sort(byScore);
  return [...wanted, ...others];
}
