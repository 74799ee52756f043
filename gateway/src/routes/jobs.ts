import { requireFeature } from "../http/gates";
import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

export function registerJobRoutes(router: GatewayRouter): void {
  /** The caller's jobs, newest first, without input, result or history: `?status=&limit=&cursor=`. */
  router.get("/api/jobs", async (_request, ctx) => {
    return json(await ctx.env.JOBS.list(Object.fromEntries(ctx.url.searchParams), await ctx.identity(), ctx.call));
  });

  /** Creates a job `{ kind, input, run_at?, max_attempts? }`; `Idempotency-Key` optional. */
  router.post("/api/jobs", async (_request, ctx) => {
    const identity = await ctx.identity();
    const body = await ctx.json();
    // Refused before it is queued; the scaffold worker refuses it again if it is switched off later.
    if (typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "scaffold.generate")
      await requireFeature(ctx, identity, "scaffold.enabled");
    const { job, created } = await ctx.env.JOBS.create(body, identity, ctx.idempotencyKey(), ctx.call);
    return json(job, created ? 201 : 200);
  });

  /** Admin: runs the due jobs now and reports what ran. */
  router.post("/api/jobs/run", async (_request, ctx) => {
    return json(await ctx.env.JOBS.run(await ctx.requireAdmin(), ctx.call));
  });

  /** One of the caller's jobs; anyone else's id is 404. */
  router.get("/api/jobs/:id", async (request, ctx) => {
    const identity = await ctx.identity();
    return json(await ctx.env.JOBS.get(pathParam(request, "id"), identity, ctx.call));
  });

  /** Cancel `{ "action": "cancel" }`, or replace a pending job's input `{ "input": … }`. */
  router.patch("/api/jobs/:id", async (request, ctx) => {
    const identity = await ctx.identity();
    const body = await ctx.json();
    return json(await ctx.env.JOBS.update(pathParam(request, "id"), body, identity, ctx.call));
  });

  /** Admin: prunes stale jobs and expired usage events, with counts. */
  router.post("/api/admin/cleanup", async (_request, ctx) => {
    return json(await ctx.env.JOBS.cleanup(await ctx.requireAdmin(), ctx.call));
  });
}
