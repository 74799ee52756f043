import type { RequestContext } from "../http/context";
import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

/** A header may carry a percent-encoded UTF-8 name (headers are Latin-1 on the wire). */
function headerFilename(value: string | null): string | null {
  if (value === null) return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function key(request: { params: Record<string, string | undefined> }): string {
  return pathParam(request, "key");
}

export function registerUploadRoutes(router: GatewayRouter): void {
  /**
   * Streams the request body into R2 (the gateway never buffers it). `Content-Length` is required;
   * the display name comes from `X-File-Name` or `?filename=`.
   */
  router.post("/api/upload/direct", async (request, ctx: RequestContext) => {
    const identity = await ctx.identity();
    const meta = {
      contentLength: request.headers.get("Content-Length"),
      contentType: request.headers.get("Content-Type"),
      filename: headerFilename(request.headers.get("X-File-Name")) ?? ctx.url.searchParams.get("filename"),
      route: "/api/upload/direct",
    };
    return json(await ctx.env.UPLOADS.upload(ctx.request.body, meta, identity, ctx.call), 201);
  });

  /** The caller's uploads, oldest first: `?limit=&cursor=`. */
  router.get("/api/uploads", async (_request, ctx) => {
    const query: { cursor?: string; limit?: string } = {};
    const cursor = ctx.url.searchParams.get("cursor");
    const limit = ctx.url.searchParams.get("limit");
    if (cursor !== null) query.cursor = cursor;
    if (limit !== null) query.limit = limit;
    return json(await ctx.env.UPLOADS.list(await ctx.identity(), query, ctx.call));
  });

  /** Downloads one of the caller's uploads (its key URL-encoded, or its id). */
  router.get("/api/uploads/:key", async (request, ctx) => {
    const file = await ctx.env.UPLOADS.download(await ctx.identity(), key(request), ctx.call);
    return new Response(file.body, { headers: file.headers });
  });

  /** Deletes one of the caller's uploads. */
  router.delete("/api/uploads/:key", async (request, ctx) => {
    return json(await ctx.env.UPLOADS.remove(await ctx.identity(), key(request), ctx.call));
  });
}
