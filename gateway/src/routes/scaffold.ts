import { parseInput, ScaffoldRenderRequest } from "@cognomega/shared";
import { requireFeature } from "../http/gates";
import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";
import { siResponse } from "./si";

/**
 * Every route here obeys `scaffold.enabled` (403 `feature_disabled` when off); the scaffold worker
 * checks it again when a `scaffold.generate` job runs.
 */
export function registerScaffoldRoutes(router: GatewayRouter): void {
  /** `{ prompt, model?, policy? }` → an App Graph from the `app-graph` skill, billed as an ask. */
  router.post("/api/scaffold/graph", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    const body = await ctx.json();
    return siResponse(
      ctx,
      identity,
      await ctx.env.SCAFFOLD.graph(body, identity, ctx.scopedIdempotencyKey(), ctx.call),
    );
  });

  /** `{ graph }` → 201 with the rendered project's manifest; no AI call. */
  router.post("/api/scaffold/render", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    const { graph } = parseInput(ScaffoldRenderRequest, await ctx.json());
    return json(await ctx.env.SCAFFOLD.render(graph, identity, ctx.call), 201);
  });

  /** `{ prompt, model?, policy? }` → 202 with a `scaffold.generate` job (graph, then render) to poll. */
  router.post("/api/scaffold", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    const body = await ctx.json();
    const { job } = await ctx.env.JOBS.create(
      { kind: "scaffold.generate", input: body },
      identity,
      ctx.idempotencyKey(),
      ctx.call,
    );
    return json({ queued: true, job }, 202);
  });

  /** The caller's scaffolds, oldest first: `?limit=&cursor=`. */
  router.get("/api/scaffold", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    return json(await ctx.env.SCAFFOLD.list(identity, Object.fromEntries(ctx.url.searchParams), ctx.call));
  });

  /** One of the caller's scaffolds: its manifest and its graph. Anyone else's id is 404. */
  router.get("/api/scaffold/:id", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    return json(await ctx.env.SCAFFOLD.get(identity, pathParam(request, "id"), ctx.call));
  });

  /** The scaffold's zip, as an attachment. */
  router.get("/api/scaffold/:id/download", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    const file = await ctx.env.SCAFFOLD.download(identity, pathParam(request, "id"), ctx.call);
    return new Response(file.body, { headers: file.headers });
  });

  /** Deletes one of the caller's scaffolds. */
  router.delete("/api/scaffold/:id", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "scaffold.enabled");
    return json(await ctx.env.SCAFFOLD.remove(identity, pathParam(request, "id"), ctx.call));
  });
}
