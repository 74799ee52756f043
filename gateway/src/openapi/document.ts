import { ERROR_STATUS, ERROR_TITLE, type ErrorCode, IDEMPOTENCY_KEY_MAX_CHARS } from "@cognomega/shared";
import { toJsonSchema } from "@valibot/to-json-schema";
import type { GenericSchema } from "valibot";
import { CORS_EXPOSE_HEADERS } from "../http/cors";
import { PROBLEM_TYPE_BASE } from "../http/problem";
import { type AnswerContent, OPERATIONS, type Operation, type RequestBody } from "./operations";

type JsonSchema = Record<string, unknown>;

/**
 * A JSON Schema (2020-12, the dialect of OpenAPI 3.1) from a valibot schema. Refinements JSON
 * Schema cannot say (custom checks, transforms of query strings) are left out: the service still
 * applies them, so the document is a superset of what is accepted, never stricter.
 */
function schemaOf(schema: GenericSchema): JsonSchema {
  const converted = toJsonSchema(schema, { errorMode: "ignore", target: "draft-2020-12" }) as JsonSchema;
  const { $schema: _dialect, ...rest } = converted;
  return rest;
}

const BILLING_HEADERS = ["X-Credits-Used", "X-Credits-Balance", "X-Provider", "X-Model", "X-Tokens-In", "X-Tokens-Out"];
const EXPOSED_HEADERS = CORS_EXPOSE_HEADERS.split(",").map((name) => name.trim());
// The limit headers a signed-in answer carries: the ones CORS exposes for that purpose.
const LIMIT_HEADERS = EXPOSED_HEADERS.filter((name) => name.startsWith("X-Limit-") || name.startsWith("RateLimit"));

const HEADER_DESCRIPTIONS: Record<string, string> = {
  "X-Request-Id":
    "The request's id (the client's own when it sent a well-formed one); quote it when reporting a problem.",
  "X-Credits-Used": "Credits this request was charged.",
  "X-Credits-Balance": "The caller's balance after this request.",
  "X-Provider": "The provider that served the answer.",
  "X-Model": "The model that served the answer.",
  "X-Tokens-In": "Input tokens billed.",
  "X-Tokens-Out": "Output tokens billed.",
  "X-Limit-Requests-Limit": "Requests allowed per minute.",
  "X-Limit-Requests-Remaining": "Requests left this minute.",
  "X-Limit-Requests-Reset": "Seconds until the minute's window resets.",
  "X-Limit-Credits-Limit": "Credits allowed per UTC day.",
  "X-Limit-Credits-Remaining": "Credits left today.",
  "X-Limit-Credits-Reset": "Seconds until the daily budget resets.",
  RateLimit: "IETF RateLimit field for requests per minute.",
  "RateLimit-Policy": "IETF RateLimit-Policy field for requests per minute.",
  "Retry-After": "Seconds to wait before retrying.",
};

function headerRefs(names: readonly string[]): Record<string, { $ref: string }> {
  return Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));
}

/** Codes any operation of this kind can answer, whatever it does. */
function implicitErrors(operation: Operation): ErrorCode[] {
  const codes: ErrorCode[] = ["internal"];
  if (operation.auth === "bearer" || operation.auth === "bearer-or-admin")
    codes.push("unauthenticated", "rate_limited");
  if (operation.auth === "admin" || operation.auth === "bearer-or-admin") codes.push("unauthenticated", "forbidden");
  if (operation.auth === "admin") codes.push("not_configured");
  if (operation.path.includes(":")) codes.push("invalid_input");
  if (operation.body?.kind === "json") codes.push("malformed_json", "invalid_input", "payload_too_large");
  if (operation.body && operation.body.kind !== "json")
    codes.push("invalid_input", "payload_too_large", "unsupported_media_type");
  if (operation.query) codes.push("invalid_input");
  return codes;
}

function answerContent(content: AnswerContent): Record<string, unknown> | undefined {
  switch (content.kind) {
    case "json":
      return { "application/json": { schema: content.schema ? schemaOf(content.schema) : { type: "object" } } };
    case "sse":
      return { "text/event-stream": { schema: { type: "string" } } };
    case "binary":
      return Object.fromEntries(
        content.types.map((type) => [type, { schema: { type: "string", contentMediaType: type } }]),
      );
    case "none":
      return undefined;
  }
}

function requestBody(request: RequestBody): Record<string, unknown> {
  switch (request.kind) {
    case "json":
      return {
        required: request.required ?? true,
        content: { "application/json": { schema: schemaOf(request.schema) } },
      };
    case "binary": {
      const content: Record<string, unknown> = Object.fromEntries(
        request.types.map((type) => [type, { schema: { type: "string", contentMediaType: type } }]),
      );
      if (request.alternative) content["application/json"] = { schema: schemaOf(request.alternative) };
      return { required: true, content };
    }
    case "multipart": {
      const properties = Object.fromEntries(
        Object.entries(request.fields).map(([name, field]) => [
          name,
          field.type === "binary"
            ? { type: "string", contentMediaType: "application/octet-stream" }
            : { type: "string" },
        ]),
      );
      const required = Object.entries(request.fields)
        .filter(([, field]) => field.required)
        .map(([name]) => name);
      return {
        required: true,
        content: { "multipart/form-data": { schema: { type: "object", properties, required } } },
      };
    }
  }
}

function parameters(operation: Operation): Record<string, unknown>[] {
  const list: Record<string, unknown>[] = [];
  for (const match of operation.path.matchAll(/:([A-Za-z_]+)/g)) {
    list.push({ name: match[1], in: "path", required: true, schema: { type: "string" } });
  }
  if (operation.query) {
    const query = schemaOf(operation.query) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      list.push({ name, in: "query", required: query.required?.includes(name) ?? false, schema });
    }
  }
  for (const name of operation.headers ?? []) list.push({ $ref: `#/components/parameters/${name}` });
  return list;
}

function security(operation: Operation): Record<string, string[]>[] | undefined {
  switch (operation.auth) {
    case "none":
      return [];
    case "bearer":
      return [{ guestToken: [] }];
    case "admin":
      return [{ adminKey: [] }];
    case "bearer-or-admin":
      return [{ guestToken: [] }, { adminKey: [] }];
  }
}

function responses(operation: Operation): Record<string, unknown> {
  const signedIn = operation.auth === "bearer" || operation.auth === "bearer-or-admin";
  const okHeaders = headerRefs([
    "X-Request-Id",
    ...(operation.ok.billed ? BILLING_HEADERS : []),
    ...(signedIn ? LIMIT_HEADERS : []),
  ]);
  const answers: Record<string, unknown> = {};
  const successes = [operation.ok, ...(operation.alternatives ?? [])];
  for (const status of new Set(successes.map((answer) => answer.status))) {
    const same = successes.filter((answer) => answer.status === status);
    const content = Object.assign({}, ...same.map((answer) => answerContent(answer.content) ?? {}));
    answers[String(status)] = {
      description: same.map((answer) => answer.description).join("; or "),
      headers: okHeaders,
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
  }
  const codes = [...new Set([...implicitErrors(operation), ...(operation.errors ?? [])])];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    if (operation.errorFormat === "ofrep") {
      const flagFailure = status === 400 || status === 404;
      answers[String(status)] = {
        description: flagFailure
          ? "OFREP: the flag's (or the request's) evaluation error"
          : `OFREP request failure: ${list.map((code) => `\`${code}\``).join(", ")}`,
        headers: headerRefs(["X-Request-Id", ...(status === 429 || status === 503 ? ["Retry-After"] : [])]),
        content: {
          "application/json": {
            schema: { $ref: `#/components/schemas/${flagFailure ? "OfrepEvaluationFailure" : "OfrepRequestFailure"}` },
          },
        },
      };
      continue;
    }
    answers[String(status)] = {
      description: `Problem: ${list.map((code) => `\`${code}\``).join(", ")}`,
      headers: headerRefs(["X-Request-Id", ...(status === 429 || status === 503 ? ["Retry-After"] : [])]),
      content: {
        "application/problem+json": {
          schema: { $ref: "#/components/schemas/Problem" },
        },
      },
    };
  }
  return answers;
}

/** The OpenAPI path of a router path: `:id` becomes `{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, "{$1}");
}

/** `get` + `/api/jobs/{id}` → `getApiJobsId`: unique, since a method and path are. */
function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter((word) => word !== "");
  return method + words.map((word) => word[0]?.toUpperCase() + word.slice(1)).join("");
}

/** The whole OpenAPI 3.1 document, built from {@link OPERATIONS} and the shared schemas. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    const path = openApiPath(operation.path);
    const item = paths[path] ?? {};
    paths[path] = item;
    const entry: Record<string, unknown> = {
      operationId: operationId(operation.method, path),
      tags: [operation.tag],
      summary: operation.summary,
      security: security(operation),
      parameters: parameters(operation),
      responses: responses(operation),
    };
    if (operation.body) entry.requestBody = requestBody(operation.body);
    item[operation.method] = entry;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Cognomega API",
      version: "1",
      description:
        "Every public route of the Cognomega gateway. Errors are RFC 9457 problem documents with a stable `code` from one closed list.",
    },
    servers: [{ url: "https://api.cognomega.com" }, { url: "http://127.0.0.1:8787", description: "npm start" }],
    paths,
    components: {
      securitySchemes: {
        guestToken: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "An RS256 token from POST /auth/guest",
        },
        adminKey: { type: "apiKey", in: "header", name: "X-Admin-Key" },
      },
      parameters: {
        "Idempotency-Key": {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description: "Retries with the same key and body answer the first result and are billed once.",
          schema: { type: "string", minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX_CHARS },
        },
        "If-Match": { name: "If-Match", in: "header", required: false, schema: { type: "string" } },
        "If-None-Match": { name: "If-None-Match", in: "header", required: false, schema: { type: "string" } },
        "X-File-Name": { name: "X-File-Name", in: "header", required: false, schema: { type: "string" } },
        "Content-Length": {
          name: "Content-Length",
          in: "header",
          required: true,
          schema: { type: "integer", minimum: 0 },
        },
      },
      headers: Object.fromEntries(
        EXPOSED_HEADERS.filter((name) => HEADER_DESCRIPTIONS[name]).map((name) => [
          name,
          { description: HEADER_DESCRIPTIONS[name], schema: { type: "string" } },
        ]),
      ),
      schemas: {
        ErrorCode: { type: "string", enum: Object.keys(ERROR_STATUS) },
        OfrepEvaluationFailure: {
          type: "object",
          description:
            "OFREP's error body (not problem+json): a flag that could not be evaluated, or a body that is not one.",
          required: ["errorCode"],
          properties: {
            key: { type: "string" },
            errorCode: {
              type: "string",
              enum: [
                "PARSE_ERROR",
                "TARGETING_KEY_MISSING",
                "INVALID_CONTEXT",
                "GENERAL",
                "FLAG_NOT_FOUND",
                "TYPE_MISMATCH",
              ],
            },
            errorDetails: { type: "string" },
          },
        },
        OfrepRequestFailure: {
          type: "object",
          description: "OFREP's body for a failure of the request itself, with the gateway's stable code.",
          required: ["errorDetails", "code", "request_id"],
          properties: {
            errorDetails: { type: "string" },
            code: { $ref: "#/components/schemas/ErrorCode" },
            request_id: { type: "string" },
          },
        },
        Problem: {
          type: "object",
          description: "RFC 9457 problem details; extension members (e.g. `issues`) may follow.",
          required: ["type", "title", "status", "detail", "code", "request_id"],
          properties: {
            type: { type: "string", format: "uri", description: `${PROBLEM_TYPE_BASE}<code>` },
            title: { type: "string", enum: [...new Set(Object.values(ERROR_TITLE))] },
            status: { type: "integer", minimum: 400, maximum: 599 },
            detail: { type: "string" },
            code: { $ref: "#/components/schemas/ErrorCode" },
            request_id: { type: "string" },
            issues: {
              type: "array",
              items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } },
            },
          },
        },
      },
    },
  };
}
