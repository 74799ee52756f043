import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

function query(url: URL): Record<string, string> {
  return Object.fromEntries(url.searchParams);
}

export function registerCreditRoutes(router: GatewayRouter): void {
  /** The caller's balance, reservations and open holds, with `X-Credits-Balance`. */
  router.get("/api/credits", async (_request, ctx) => {
    // One ledger call: the balance and holds, and the limits for the headers.
    const credits = await ctx.credits();
    // Credits are numbers whose shortest text is the exact decimal (at most 6 places).
    ctx.meter = { creditsBalance: String(credits.balance) };
    return json(credits);
  });

  /** Admin: `{ account, delta, reason }` with a required `Idempotency-Key`. */
  router.post("/api/credits/adjust", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    const body = await ctx.json();
    const result = await ctx.env.BILLING.adjust(body, ctx.idempotencyKey(), admin, ctx.call);
    ctx.meter = { creditsBalance: String(result.balance) };
    return json(result);
  });

  /** The caller's ledger entries, newest first: `?limit=&cursor=`. */
  router.get("/api/credits/history", async (_request, ctx) => {
    return json(await ctx.env.BILLING.history(await ctx.identity(), query(ctx.url), ctx.call));
  });

  /** The caller's limits and what is left of them. */
  router.get("/api/limits", async (_request, ctx) => {
    // The same numbers as the headers: this request counted, slots this instance holds still free.
    return json(await ctx.currentLimits());
  });

  /** Admin: a tenant's own limits `{ rpm?, daily_credits? }`; `null` restores a default. */
  router.put("/api/admin/limits/:account", async (request, ctx) => {
    const admin = await ctx.requireAdmin();
    const body = await ctx.json();
    const account = pathParam(request, "account");
    return json(await ctx.env.BILLING.setLimits(account, body, admin, ctx.call));
  });

  // Usage: the older paths /api/usage and /usage reach the same handlers.
  for (const path of ["/api/billing/usage", "/api/usage", "/usage"]) {
    /** The caller's usage events: `?from=&to=&cursor=&limit=`, oldest first. */
    router.get(path, async (_request, ctx) => {
      return json(await ctx.env.BILLING.listUsage(await ctx.identity(), query(ctx.url), ctx.call));
    });

    /** Records a usage event the client reports; `Idempotency-Key` optional. */
    router.post(path, async (_request, ctx) => {
      const identity = await ctx.identity();
      const body = await ctx.json();
      const event = await ctx.env.BILLING.reportUsage(identity, body, ctx.idempotencyKey(), ctx.call);
      return json(event, 201);
    });
  }
}
