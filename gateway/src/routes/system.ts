// Generated from the operation table and the shared schemas by `npm run openapi` (CI checks it is
// current): the gateway ships the document, not the generator.

import type { AdminPingAnswer, ReadyAnswer } from "@cognomega/shared";
import openApiDocument from "../../../docs/openapi.json";
import { problem } from "../http/problem";
import { json } from "../http/respond";
import type { GatewayRouter } from "../http/router";

// Serialised on first request, once per isolate: the document only changes with a deploy.
let document: string | undefined;

/** How long `/ready` waits for one service's health answer. */
const HEALTH_TIMEOUT_MS = 3000;

/** Every internal service the gateway is bound to, by the name `/ready` reports. */
function boundServices(env: GatewayEnv): Record<string, { health(): Promise<unknown> }> {
  return {
    billing: env.BILLING,
    si: env.SI,
    jobs: env.JOBS,
    uploads: env.UPLOADS,
    rag: env.RAG,
    advisor: env.ADVISOR,
    voice: env.VOICE,
    scaffold: env.SCAFFOLD,
    analytics: env.ANALYTICS,
    flags: env.FLAGS,
  };
}

async function probe(service: { health(): Promise<unknown> }): Promise<"ok" | "unavailable"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"unavailable">((resolve) => {
    timer = setTimeout(() => resolve("unavailable"), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([service.health().then(() => "ok" as const), timeout]);
  } catch {
    return "unavailable";
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export function registerSystemRoutes(router: GatewayRouter): void {
  /** Readiness: 200 only when every bound service answers its health RPC. */
  router.get("/ready", async (_request, ctx) => {
    const entries = Object.entries(boundServices(ctx.env));
    const results = await Promise.all(entries.map(async ([name, service]) => [name, await probe(service)] as const));
    const services = Object.fromEntries(results);
    const failed = results.filter(([, state]) => state !== "ok").map(([name]) => name);
    if (failed.length > 0) {
      return problem(
        "upstream_unavailable",
        `not ready: ${failed.join(", ")} did not answer its health check`,
        ctx.requestId,
        {
          services,
          failed,
        },
      );
    }
    return json({ status: "ready", services } satisfies ReadyAnswer);
  });

  /** The OpenAPI 3.1 document of every public route (docs/openapi.json is the same, checked in). */
  router.get("/openapi.json", () => {
    document ??= JSON.stringify(openApiDocument);
    return new Response(document, {
      headers: { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "public, max-age=300" },
    });
  });

  /** Admin liveness: 200 for a valid admin key, 401 without one, 403 for a wrong one. */
  router.get("/api/admin/ping", async (_request, ctx) => {
    await ctx.requireAdmin();
    return json({ ok: true, admin: true, request_id: ctx.requestId } satisfies AdminPingAnswer);
  });
}
