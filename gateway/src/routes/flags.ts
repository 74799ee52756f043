import {
  type BulkEvaluationAnswer,
  type CallerFlagsAnswer,
  ERROR_STATUS,
  type EvaluationContext,
  evaluateAll,
  evaluateFlag,
  type FlagEvaluation,
  type FlagSet,
  flagEtag,
  isFlagError,
  isServiceError,
  type JsonValue,
  logEvent,
  shortHash,
} from "@cognomega/shared";
import type { RequestContext } from "../http/context";
import { buildEvaluationContext, currentFlagSet, gatewayFlagSets } from "../http/flag-context";
import { json } from "../http/respond";
import { type GatewayRouter, pathParam } from "../http/router";

/**
 * OFREP answers its own bodies, not problem+json (the one exception to the gateway's error
 * format): a flag's failure is `{ key, errorCode, errorDetails }` (404 for FLAG_NOT_FOUND, else
 * 400), a bulk request's is `{ errorCode, errorDetails }`, and a failure of the request itself
 * (401 no or bad token, 429, 413, 5xx) is `{ errorDetails, code, request_id }`, `code` being the
 * gateway's stable code.
 */
function ofrepFailure(error: unknown, ctx: RequestContext, key?: string): Response {
  const keyed = key === undefined ? {} : { key };
  if (isServiceError(error)) {
    if (error.code === "malformed_json" || error.code === "invalid_input") {
      return json({ ...keyed, errorCode: "PARSE_ERROR", errorDetails: error.message }, 400);
    }
    const response = json(
      { errorDetails: error.message, code: error.code, request_id: ctx.requestId },
      ERROR_STATUS[error.code],
    );
    const retryAfter = error.details?.retry_after;
    if (typeof retryAfter === "number") response.headers.set("Retry-After", String(retryAfter));
    return response;
  }
  logEvent("error", "ofrep evaluation failed", { request_id: ctx.requestId, error });
  return json(
    {
      errorDetails: "unexpected error; quote the request_id when reporting it",
      code: "internal",
      request_id: ctx.requestId,
    },
    500,
  );
}

/** The `context` of an OFREP request body (absent body or context: empty). */
async function requestedContext(ctx: RequestContext): Promise<unknown> {
  const body = await ctx.json();
  if (body === undefined) return undefined;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw Object.assign(new Error("body"), { ofrep: "PARSE_ERROR" });
  }
  return (body as { context?: unknown }).context;
}

/** The context to evaluate with, or the OFREP answer refusing the request. */
async function evaluationInput(
  ctx: RequestContext,
  key?: string,
): Promise<{ context: EvaluationContext } | { refusal: Response }> {
  const identity = await ctx.identity();
  let raw: unknown;
  try {
    raw = await requestedContext(ctx);
  } catch (error) {
    if ((error as { ofrep?: string }).ofrep === "PARSE_ERROR") {
      const keyed = key === undefined ? {} : { key };
      return {
        refusal: json({ ...keyed, errorCode: "PARSE_ERROR", errorDetails: "the body must be a JSON object" }, 400),
      };
    }
    throw error;
  }
  const built = buildEvaluationContext(ctx, identity, raw);
  if (!built.ok) {
    const keyed = key === undefined ? {} : { key };
    return { refusal: json({ ...keyed, errorCode: "INVALID_CONTEXT", errorDetails: built.errorDetails }, 400) };
  }
  return { context: built.context };
}

// A client polling its flags sends the same context each time: its ETag, and the answer's bytes,
// are remembered rather than hashed and evaluated again. Bounded in entries, in the size of each
// key and in the size of each answer kept, so it can't grow with client input (at most 4 MiB).
const BULK_MEMO_ENTRIES = 256;
const BULK_MEMO_MAX_INPUT = 2048;
const BULK_MEMO_MAX_BODY = 16 * 1024;

/** One bulk answer as served: its strong ETag and, once evaluated, its JSON text. */
interface BulkAnswer {
  etag: string;
  body?: string;
}
const recentBulk = new Map<string, BulkAnswer>();

/**
 * The bulk answer for a set and context: a strong ETag over the set's version and the effective
 * context (top-level keys sorted), so it changes exactly when some flag could evaluate differently.
 * The evaluation depends on nothing else (no clock), so the same key serves the same bytes.
 */
async function bulkAnswerFor(version: string, context: EvaluationContext): Promise<BulkAnswer> {
  const canonical = Object.keys(context)
    .sort()
    .map((name) => [name, context[name]]);
  const input = `${version}\n${JSON.stringify(canonical)}`;
  const known = recentBulk.get(input);
  if (known !== undefined) return known;
  const answer: BulkAnswer = { etag: `"${await shortHash(input)}"` };
  if (input.length <= BULK_MEMO_MAX_INPUT) {
    if (recentBulk.size >= BULK_MEMO_ENTRIES) recentBulk.delete(recentBulk.keys().next().value as string);
    recentBulk.set(input, answer);
  }
  return answer;
}

/** The bulk answer's JSON text, kept with its ETag when it is small enough. */
function bulkBody(answer: BulkAnswer, set: FlagSet, context: EvaluationContext): string {
  if (answer.body !== undefined) return answer.body;
  const document: BulkEvaluationAnswer = { flags: evaluateAll(set, context), metadata: { version: set.version } };
  const body = JSON.stringify(document);
  if (body.length <= BULK_MEMO_MAX_BODY) answer.body = body;
  return body;
}

/** True when an If-None-Match (`*`, or a list of ETags, weak comparison) names `etag`. */
function noneMatchHits(header: string | null, etag: string): boolean {
  if (header === null || header.length > 2048) return false;
  if (header.trim() === "*") return true;
  return header
    .split(",", 64)
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .includes(etag);
}

function evaluationStatus(evaluation: FlagEvaluation): number {
  if (!isFlagError(evaluation)) return 200;
  return evaluation.errorCode === "FLAG_NOT_FOUND" ? 404 : 400;
}

/** An admin answer with the flag's ETag. */
function withEtag(body: unknown, etag: string, status = 200): Response {
  return json(body, status, { ETag: etag });
}

export function registerFlagRoutes(router: GatewayRouter): void {
  /** OFREP v0.3: one flag for the caller's context. */
  router.post("/ofrep/v1/evaluate/flags/:key", async (request, ctx) => {
    let key: string | undefined;
    try {
      // The caller first: the request is counted whatever its path or body hold.
      await ctx.identity();
      key = pathParam(request, "key");
      const input = await evaluationInput(ctx, key);
      if ("refusal" in input) return input.refusal;
      const evaluation = evaluateFlag(await currentFlagSet(ctx), key, input.context);
      return json(evaluation, evaluationStatus(evaluation));
    } catch (error) {
      return ofrepFailure(error, ctx, key);
    }
  });

  /** OFREP v0.3 bulk: every flag for the caller's context, with an ETag; If-None-Match → 304. */
  router.post("/ofrep/v1/evaluate/flags", async (request, ctx) => {
    try {
      const input = await evaluationInput(ctx);
      if ("refusal" in input) return input.refusal;
      const set = await currentFlagSet(ctx);
      const answer = await bulkAnswerFor(set.version, input.context);
      const headers = { ETag: answer.etag, "Cache-Control": "private, no-cache" };
      if (noneMatchHits(request.headers.get("If-None-Match"), answer.etag))
        return new Response(null, { status: 304, headers });
      return new Response(bulkBody(answer, set, input.context), {
        headers: { ...headers, "Content-Type": "application/json; charset=utf-8" },
      });
    } catch (error) {
      return ofrepFailure(error, ctx);
    }
  });

  /** The caller's evaluated flags (derived context only): `{ values: { key: value }, flags: [...] }`. */
  router.get("/api/flags", async (_request, ctx) => {
    const identity = await ctx.identity();
    const built = buildEvaluationContext(ctx, identity, undefined);
    const set = await currentFlagSet(ctx);
    const flags = built.ok ? evaluateAll(set, built.context) : [];
    const values: Record<string, JsonValue> = {};
    for (const evaluation of flags) {
      if (!isFlagError(evaluation)) {
        Object.defineProperty(values, evaluation.key, { value: evaluation.value, enumerable: true });
      }
    }
    return json({ version: set.version, values, flags } satisfies CallerFlagsAnswer);
  });

  /** Admin: every defined flag with its overrides and ETag. */
  router.get("/api/admin/flags", async (_request, ctx) => {
    const admin = await adminActor(ctx);
    const list = await ctx.env.FLAGS.list(admin, ctx.call);
    return withEtag(list, flagEtag(list.version));
  });

  /** Admin: one flag; `ETag` is its version. */
  router.get("/api/admin/flags/:key", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const found = await ctx.env.FLAGS.get(pathParam(request, "key"), admin, ctx.call);
    return withEtag(found, found.etag);
  });

  /** Admin: create (201, no precondition) or replace (If-Match required: 428, 412 stale) a flag. */
  router.put("/api/admin/flags/:key", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const key = pathParam(request, "key");
    const body = await ctx.json();
    const stored = await ctx.env.FLAGS.put(key, body, request.headers.get("If-Match"), admin, ctx.call);
    gatewayFlagSets(ctx.env).clear();
    return withEtag(stored, stored.etag, stored.created ? 201 : 200);
  });

  /** Admin: delete a flag (If-Match required). Its history stays readable. */
  router.delete("/api/admin/flags/:key", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const removed = await ctx.env.FLAGS.remove(
      pathParam(request, "key"),
      request.headers.get("If-Match"),
      admin,
      ctx.call,
    );
    gatewayFlagSets(ctx.env).clear();
    return json(removed);
  });

  /** Admin: `{ variant }` for one account; no precondition, but it bumps the flag's version. */
  router.put("/api/admin/flags/:key/overrides/:account", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const key = pathParam(request, "key");
    const account = pathParam(request, "account");
    const body = await ctx.json();
    const stored = await ctx.env.FLAGS.putOverride(key, account, body, admin, ctx.call);
    gatewayFlagSets(ctx.env).clear();
    return withEtag(stored, stored.etag);
  });

  /** Admin: drop one account's override. */
  router.delete("/api/admin/flags/:key/overrides/:account", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const stored = await ctx.env.FLAGS.removeOverride(
      pathParam(request, "key"),
      pathParam(request, "account"),
      admin,
      ctx.call,
    );
    gatewayFlagSets(ctx.env).clear();
    return withEtag(stored, stored.etag);
  });

  /** Admin: the flag's changes, newest first: `?limit=&before=`. */
  router.get("/api/admin/flags/:key/history", async (request, ctx) => {
    const admin = await adminActor(ctx);
    const query = Object.fromEntries(ctx.url.searchParams);
    return json(await ctx.env.FLAGS.history(pathParam(request, "key"), query, admin, ctx.call));
  });
}

/**
 * The admin making a flag change, for its history: the admin key is checked first (so these
 * routes never count a user's request), then the account it acts as when it names one (a Bearer
 * token or `X-User-Email`), else the operator.
 */
async function adminActor(ctx: RequestContext) {
  const operator = await ctx.requireAdmin();
  return (await ctx.optionalIdentity()) ?? operator;
}
