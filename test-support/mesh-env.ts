import { env as runnerEnv } from "cloudflare:workers";
import { servicesOf } from "@cognomega/shared/refusals";

/**
 * The test run's env as a worker's own code sees it: a service binding's refusals (which cross RPC as
 * values, shared/src/refusals.ts) are ServiceErrors again, so a test awaits them as a caller would.
 */
export const env = servicesOf(runnerEnv);
