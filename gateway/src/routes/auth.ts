import type { MeAnswer } from "@cognomega/shared";
import { json } from "../http/respond";
import type { GatewayRouter } from "../http/router";

export function registerAuthRoutes(router: GatewayRouter): void {
  /** Issues an RS256 guest token; body `{ email? }` is optional. */
  router.post("/auth/guest", async (request, ctx) => {
    const body = await ctx.json();
    // Cloudflare sets CF-Connecting-IP on every request (a client cannot supply its own).
    return json(await ctx.env.BILLING.issueGuestToken(body, ctx.call, request.headers.get("CF-Connecting-IP")));
  });

  /** The public keys tokens are verified with; cacheable by anyone for five minutes. */
  router.get("/.well-known/jwks.json", async (_request, ctx) => {
    const { jwks, maxAgeSeconds } = await ctx.env.BILLING.jwks(ctx.call);
    return json(jwks, 200, { "Cache-Control": `public, max-age=${maxAgeSeconds}` });
  });

  /** Who the gateway thinks the caller is, and how it knows. */
  router.get("/api/me", async (_request, ctx) => {
    const identity = await ctx.identity();
    return json({ ...identity, request_id: ctx.requestId } satisfies MeAnswer);
  });
}
