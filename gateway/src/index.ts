import { applyMeter, isServiceError, type LimitState, logEvent } from "@cognomega/shared";
import { RequestContext } from "./http/context";
import { allowedOrigins, applyCors, matchOrigin, preflight } from "./http/cors";
import { applyLimitHeaders } from "./http/limits";
import { problem } from "./http/problem";
import { requestIdFor } from "./http/request-id";
import { allowedMethods } from "./http/router";
import { gatewayRoutes } from "./routes";

const router = gatewayRoutes();

function errorResponse(error: unknown, ctx: RequestContext): Response {
  if (isServiceError(error)) {
    // OpenAI clients read `error`; the problem document carries it beside RFC 9457's members.
    const details = ctx.url.pathname.startsWith("/v1/")
      ? { ...error.details, error: { message: error.message, type: error.code, code: error.code, param: null } }
      : error.details;
    const response = problem(error.code, error.message, ctx.requestId, details);
    const retryAfter = error.details?.retry_after;
    if (typeof retryAfter === "number") response.headers.set("Retry-After", String(retryAfter));
    const limits = error.details?.limits as LimitState | undefined;
    if (limits?.rpm && limits.daily_credits) applyLimitHeaders(response.headers, limits);
    return response;
  }
  // Unknown failures keep their internals in the log, never in the answer.
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  logEvent("error", "unhandled error", { request_id: ctx.requestId, error: name, message });
  const detail = "unexpected error; quote the request_id when reporting it";
  const extra = ctx.url.pathname.startsWith("/v1/")
    ? { error: { message: detail, type: "internal", code: "internal", param: null } }
    : undefined;
  return problem("internal", detail, ctx.requestId, extra);
}

async function route(ctx: RequestContext): Promise<Response> {
  // HEAD is answered by the GET route, without a body.
  const routed = ctx.request.method === "HEAD" ? new Request(ctx.request, { method: "GET" }) : ctx.request;
  let response: Response | undefined;
  try {
    response = await router.fetch(routed, ctx);
  } catch (error) {
    return errorResponse(error, ctx);
  }
  if (response) return response;
  const allow = allowedMethods(router, ctx.url.pathname);
  if (allow.length > 0) {
    return problem("method_not_allowed", `${ctx.request.method} is not allowed here`, ctx.requestId, undefined, {
      Allow: allow.join(", "),
    });
  }
  return problem("not_found", `no route for ${ctx.url.pathname}`, ctx.requestId);
}

export default {
  async fetch(request, env, exec): Promise<Response> {
    const started = Date.now();
    const requestId = requestIdFor(request);
    const url = new URL(request.url);
    const origin = matchOrigin(request, allowedOrigins(env.ALLOWED_ORIGINS));
    const ctx = new RequestContext(request, env, exec, url, requestId);

    let response = request.method === "OPTIONS" ? preflight(request, origin) : await route(ctx);
    // Re-wrap so headers are mutable whatever produced the answer.
    response = new Response(request.method === "HEAD" ? null : response.body, response);
    const headers = response.headers;
    headers.set("X-Request-Id", requestId);
    if (request.method !== "OPTIONS") applyCors(headers, origin);
    if (ctx.meter) applyMeter(headers, ctx.meter);
    if (ctx.limits) applyLimitHeaders(headers, ctx.limits);
    const type = headers.get("Content-Type") ?? "";
    if (type.includes("json") && !headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");

    logEvent("info", "request", {
      request_id: requestId,
      method: request.method,
      path: url.pathname,
      status: response.status,
      ms: Date.now() - started,
    });
    return response;
  },
} satisfies ExportedHandler<GatewayEnv>;
