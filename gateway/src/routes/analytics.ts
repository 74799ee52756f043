import { json } from "../http/respond";
import type { GatewayRouter } from "../http/router";

/** The hourly usage rollup in PostgreSQL and the analytics read from it (AnalyticsService). */
export function registerAnalyticsRoutes(router: GatewayRouter): void {
  /**
   * Admin: rolls every hour `{ from?, to? }` touches now (ISO times; default the lookback window;
   * the open hour included, a future `to` clamped to now), answering what it wrote.
   */
  router.post("/api/admin/rollup", async (_request, ctx) => {
    const identity = await ctx.requireAdmin();
    const body = await ctx.json();
    return json(await ctx.env.ANALYTICS.rollup(body ?? {}, identity, ctx.call));
  });

  /** The caller's own rolled-up usage: `?from=&to=&group_by=hour|day|model|provider`. */
  router.get("/api/analytics/usage", async (_request, ctx) => {
    return json(
      await ctx.env.ANALYTICS.usage(Object.fromEntries(ctx.url.searchParams), await ctx.identity(), ctx.call),
    );
  });

  /** Admin: any tenant's or everyone's usage: `?from=&to=&account=&group_by=…|account`. */
  router.get("/api/admin/analytics/usage", async (_request, ctx) => {
    const identity = await ctx.requireAdmin();
    return json(await ctx.env.ANALYTICS.adminUsage(Object.fromEntries(ctx.url.searchParams), identity, ctx.call));
  });

  /** Admin: recent rollup runs, the lag (oldest closed hour not rolled) and rows written. */
  router.get("/api/admin/analytics/rollups", async (_request, ctx) => {
    return json(await ctx.env.ANALYTICS.rollups(await ctx.requireAdmin(), ctx.call));
  });
}
