import {
  type Advice,
  type AdviceRequest,
  type AdviceThresholds,
  type CallContext,
  parseInput,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { adviseOn } from "./advice";
import { thresholds } from "./config";
import { AdviceRequestSchema } from "./schema";

/**
 * Cost and latency hints for answers SI has already served. Reached only over SI's service
 * binding. It does no I/O at all: advice is a pure function of what the caller reports and the two
 * thresholds in the worker's vars, so it can run on every answer without adding a round trip to
 * storage or a provider.
 */
export class AdvisorService extends MeshEntrypoint<AdvisorEnv> {
  /** Liveness for the gateway's `/ready`. Nothing to probe: the worker has no bindings. */
  async health(): Promise<{ service: "advisor"; ok: true }> {
    return { service: "advisor", ok: true };
  }

  /**
   * Advice for one served call, or null when it needs none.
   *
   * - Above `ADVISOR_COST_CREDITS`: up to three strictly cheaper alternatives (same token counts at
   *   their prices), cheapest first, `reason: "cost"`.
   * - Otherwise (or when nothing is cheaper), above `ADVISOR_LATENCY_MS`: up to three alternatives
   *   with an observed latency strictly below the served one, fastest first, `reason: "latency"`;
   *   their `estimated_saving_credits` is negative where they would cost more.
   *
   * Amounts are credits. `request` is validated here (RPC callers are not trusted to match the
   * type): a bad one throws `invalid_input`; unreadable thresholds throw `not_configured`.
   */
  async advise(request: AdviceRequest, _ctx: CallContext): Promise<Advice | null> {
    const checked = parseInput(AdviceRequestSchema, request);
    return adviseOn(checked, thresholds(this.env));
  }

  /**
   * The thresholds in force (cost in micro-credits, latency in ms). A call at or below both gets
   * no advice, so a caller that knows them can skip asking for calls that cannot get any.
   */
  async thresholds(_ctx: CallContext): Promise<AdviceThresholds> {
    const { costMicro, latencyMs } = thresholds(this.env);
    return { cost_micro: costMicro, latency_ms: latencyMs };
  }
}

/** Internal workers have no HTTP surface. */
/** What other workers bind to (`"entrypoint": "AdvisorEntrypoint"`): AdvisorService, answering refusals as values. */
export const AdvisorEntrypoint = refusingEntrypoint<AdvisorEnv, typeof AdvisorService>(AdvisorService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<AdvisorEnv>;
