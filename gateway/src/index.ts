import { applyMeter, ERROR_STATUS, isServiceError, type LimitState, logEvent } from "@cognomega/shared";
import { servicesOf } from "@cognomega/shared/refusals";
import { RequestContext } from "./http/context";
import { allowedOrigins, applyCors, matchOrigin, preflight } from "./http/cors";
import { applyLimitHeaders } from "./http/limits";
import { problem } from "./http/problem";
import { requestIdFor } from "./http/request-id";
import { allowedMethods, indexedDispatch } from "./http/router";
import { gatewayRoutes } from "./routes";
import { GATEWAY_SETTINGS } from "./settings";

const router = gatewayRoutes();
const dispatch = indexedDispatch(router);

/** `REQUEST_LOG=all`: a line for every request, not only for failed ones (the default, `failures`). */
function logsEveryRequest(env: GatewayEnv): boolean {
  try {
    return GATEWAY_SETTINGS.read(env).REQUEST_LOG === "all";
  } catch {
    // A bad setting is answered 503 by the route, and so logged as a failure.
    return false;
  }
}

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

// With a bad setting no origin is allowed: the route answers 503 `not_configured` (it reads the same
// settings) and a preflight gets no CORS headers.
function corsOrigin(request: Request, env: GatewayEnv): string | undefined {
  try {
    return matchOrigin(request, allowedOrigins(GATEWAY_SETTINGS.read(env).ALLOWED_ORIGINS));
  } catch {
    return undefined;
  }
}

async function route(ctx: RequestContext): Promise<Response> {
  // HEAD is answered by the GET route, without a body.
  const routed = ctx.request.method === "HEAD" ? new Request(ctx.request, { method: "GET" }) : ctx.request;
  let response: Response | undefined;
  try {
    response = await dispatch(routed, ctx);
  } catch (error) {
    return errorResponse(error, ctx);
  }
  if (response) return response;
  const allow = allowedMethods(router, ctx.url.pathname);
  if (allow.length > 0) {
    const headers = { Allow: allow.join(", ") };
    const message = `${ctx.request.method} is not allowed here`;
    return ofrepPath(ctx)
      ? ofrepRequestFailure("method_not_allowed", message, ctx, headers)
      : problem("method_not_allowed", message, ctx.requestId, undefined, headers);
  }
  const message = `no route for ${ctx.url.pathname}`;
  return ofrepPath(ctx) ? ofrepRequestFailure("not_found", message, ctx) : problem("not_found", message, ctx.requestId);
}

/** Under /ofrep/, OFREP clients read OFREP's bodies, not problem+json (docs/api.md, Flags and OFREP). */
function ofrepPath(ctx: RequestContext): boolean {
  return ctx.url.pathname.startsWith("/ofrep/");
}

/** OFREP's failure of the request itself, as the OFREP routes answer theirs: `{ errorDetails, code, request_id }`. */
function ofrepRequestFailure(
  code: "not_found" | "method_not_allowed",
  message: string,
  ctx: RequestContext,
  headers: Record<string, string> = {},
): Response {
  // `errorCode` for clients that read only OFREP's evaluation failures (404 and 400 carry one).
  return Response.json(
    { errorCode: "GENERAL", errorDetails: message, code, request_id: ctx.requestId },
    { status: ERROR_STATUS[code], headers },
  );
}

export default {
  async fetch(request, env, exec): Promise<Response> {
    const started = Date.now();
    const requestId = requestIdFor(request);
    const url = new URL(request.url);
    const origin = corsOrigin(request, env);
    // Services answer refusals as values; this view of env makes them ServiceErrors again.
    const ctx = new RequestContext(request, servicesOf(env), exec, url, requestId);

    let response = request.method === "OPTIONS" ? preflight(request, origin) : await route(ctx);
    if (request.method === "HEAD") response = new Response(null, response);
    try {
      response.headers.set("X-Request-Id", requestId);
    } catch {
      // Immutable headers (an answer fetched as it is): re-wrapped, once, to add the gateway's.
      response = new Response(response.body, response);
      response.headers.set("X-Request-Id", requestId);
    }
    const headers = response.headers;
    if (request.method !== "OPTIONS") applyCors(headers, origin);
    if (ctx.meter) applyMeter(headers, ctx.meter);
    if (ctx.limits) applyLimitHeaders(headers, ctx.limits);
    const type = headers.get("Content-Type") ?? "";
    if (type.includes("json") && !headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");

    if (response.status >= 400 || logsEveryRequest(env))
      logEvent(response.status >= 500 ? "error" : "info", "request", {
        request_id: requestId,
        method: request.method,
        path: url.pathname,
        status: response.status,
        ms: Date.now() - started,
      });
    return response;
  },
} satisfies ExportedHandler<GatewayEnv>;
