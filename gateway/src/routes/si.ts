import type { Identity, LimitState } from "@cognomega/shared";
import type { RequestContext } from "../http/context";
import { json } from "../http/respond";
import type { GatewayRouter } from "../http/router";

type SiAnswer = { meter: RequestContext["meter"]; dailyCredits?: LimitState["daily_credits"] } & (
  | { body: unknown }
  | { stream: ReadableStream<Uint8Array> }
);

/** Turns an SI answer into a response: JSON with billing headers, or an SSE stream. */
export function siResponse(ctx: RequestContext, identity: Identity, answer: SiAnswer): Response {
  ctx.meter = answer.meter;
  // SI saw the daily budget after this call's hold: newer than what the request was counted with.
  if (answer.dailyCredits) ctx.noteLimits(identity, { daily_credits: answer.dailyCredits });
  if ("stream" in answer) {
    // Credits and usage of a stream travel in its final event: they are unknown when headers go out.
    return new Response(answer.stream, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
      },
    });
  }
  return json(answer.body);
}

export function registerSiRoutes(router: GatewayRouter): void {
  /** An AI ask, billed per token; `stream: true` answers with server-sent events. */
  router.post("/api/si/ask", async (_request, ctx) => {
    const identity = await ctx.identity();
    const body = await ctx.json();
    return siResponse(ctx, identity, await ctx.env.SI.ask(body, identity, ctx.scopedIdempotencyKey(), ctx.call));
  });

  /** Which providers are configured and healthy. */
  router.get("/api/ai/binding", async (_request, ctx) => json(await ctx.env.SI.providerStatus(ctx.call)));

  /** Admin: one tiny call per configured provider, with its latency. */
  router.post("/api/ai/test", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    return json(await ctx.env.SI.testProviders(admin, ctx.call));
  });

  /** Admin: the model catalog in force; replace it with PUT, restore the default with DELETE. */
  router.get("/api/admin/catalog", async (_request, ctx) =>
    json(await ctx.env.SI.getCatalog(await ctx.requireAdmin(), ctx.call)),
  );
  router.put("/api/admin/catalog", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    return json(await ctx.env.SI.setCatalog(await ctx.json(), admin, ctx.call));
  });
  router.delete("/api/admin/catalog", async (_request, ctx) =>
    json(await ctx.env.SI.resetCatalog(await ctx.requireAdmin(), ctx.call)),
  );

  /** OpenAI-compatible chat completions: the same guest token, credits and routing. */
  router.post("/v1/chat/completions", async (_request, ctx) => {
    const identity = await ctx.identity();
    const body = await ctx.json();
    return siResponse(ctx, identity, await ctx.env.SI.chatCompletions(body, identity, ctx.call));
  });

  /** OpenAI-compatible model list: the models `si.models` lets the caller use. */
  router.get("/v1/models", async (_request, ctx) => {
    const identity = await ctx.identity();
    return json(await ctx.env.SI.listModels(ctx.call, identity));
  });
}
