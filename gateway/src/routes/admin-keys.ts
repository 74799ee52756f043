import type { PublishedKeyAnswer } from "@cognomega/shared";
import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

export function registerAdminKeyRoutes(router: GatewayRouter): void {
  /** Published signing keys with their rotation facts. */
  router.get("/api/admin/keys", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    return json({ keys: await ctx.env.BILLING.listKeys(admin, ctx.call) });
  });

  /** Rotation step 1: publish the next key's public half `{ kid, public_key_pem }`. */
  router.post("/api/admin/keys", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    const body = await ctx.json();
    const published: PublishedKeyAnswer = { published: await ctx.env.BILLING.publishKey(body, admin, ctx.call) };
    return json(published, 201);
  });

  /** Rotation last step: retire an old key after the overlap window (`?force=true` skips it). */
  router.delete("/api/admin/keys/:kid", async (request, ctx) => {
    const admin = await ctx.requireAdmin();
    const force = ctx.url.searchParams.get("force") === "true";
    const kid = pathParam(request, "kid");
    return json(await ctx.env.BILLING.retireKey(kid, force, admin, ctx.call));
  });
}
