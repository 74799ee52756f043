// The generated project's HTTP layer, as source text. These files do not depend on the graph (that
// is src/schema.ts); they are written without template literals so they can live in String.raw here.

/** `src/http.ts`: problem+json errors, JSON answers and bounded JSON bodies. */
export function httpSource(): string {
  return `// Problem+json errors (RFC 9457), JSON answers and bounded JSON request bodies.

/** One failed check, addressed by the body field it concerns. */
export interface Issue {
  path: string;
  message: string;
}

/** An expected failure: answered as problem+json with its status. */
export class HttpError extends Error {
  readonly status: number;
  readonly title: string;
  readonly issues?: Issue[];
  readonly headers?: Record<string, string>;

  constructor(status: number, title: string, detail: string, issues?: Issue[], headers?: Record<string, string>) {
    super(detail);
    this.status = status;
    this.title = title;
    if (issues !== undefined) this.issues = issues;
    if (headers !== undefined) this.headers = headers;
  }
}

/** A 400 listing every invalid field. */
export function invalid(issues: Issue[]): HttpError {
  const first = issues[0];
  return new HttpError(400, "Invalid input", first ? first.path + ": " + first.message : "invalid input", issues);
}

/** A problem+json response. */
export function problem(status: number, title: string, detail: string, issues?: Issue[], headers?: Record<string, string>): Response {
  const body = { type: "about:blank", title, status, detail, ...(issues ? { issues } : {}) };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** Largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1_048_576;

/** The request's JSON object body: 400 when it is not JSON or not an object, 413 when too large. */
export async function readObject(request: Request): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, "Payload too large", "the body is larger than 1 MiB");
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) throw new HttpError(413, "Payload too large", "the body is larger than 1 MiB");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Malformed JSON", "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid([{ path: "", message: "expected a JSON object" }]);
  return value as Record<string, unknown>;
}
`;
}

/** `src/index.ts`: the Worker, a JSON REST API per entity under /api/ (the pages are static assets). */
export function indexSource(): string {
  return `// The app's Worker: a JSON REST API per entity at /api/<collection>. The pages in public/ are
// static assets, served before this Worker runs; everything else reaches it.
import { HttpError, json, problem, readObject } from "./http";
import { type Entity, ENTITIES } from "./schema";
import { createRow, deleteRow, getRow, listRows, updateRow } from "./store";
import { ID_PATTERN, parseCursor, parseLimit, validateBody } from "./validate";

/** The Worker's bindings (wrangler.jsonc). */
export interface Env {
  DB: D1Database;
}

const BY_PATH = new Map<string, Entity>(ENTITIES.map((entity) => [entity.path, entity]));

function methodNotAllowed(allow: string): HttpError {
  return new HttpError(405, "Method not allowed", "use " + allow, undefined, { allow });
}

async function collection(request: Request, env: Env, entity: Entity): Promise<Response> {
  if (request.method === "GET") {
    const url = new URL(request.url);
    const limit = parseLimit(url.searchParams.get("limit"));
    const cursor = parseCursor(url.searchParams.get("cursor"));
    return json(await listRows(env.DB, entity, limit, cursor));
  }
  if (request.method === "POST") {
    const values = validateBody(entity, await readObject(request), "create");
    return json(await createRow(env.DB, entity, values), 201);
  }
  throw methodNotAllowed("GET, POST");
}

async function item(request: Request, env: Env, entity: Entity, id: string): Promise<Response> {
  if (request.method === "GET") return json(await getRow(env.DB, entity, id));
  if (request.method === "PATCH") {
    const values = validateBody(entity, await readObject(request), "update");
    return json(await updateRow(env.DB, entity, id, values));
  }
  if (request.method === "DELETE") {
    await deleteRow(env.DB, entity, id);
    return new Response(null, { status: 204 });
  }
  throw methodNotAllowed("GET, PATCH, DELETE");
}

async function route(request: Request, env: Env): Promise<Response> {
  const parts = new URL(request.url).pathname.split("/").filter((part) => part !== "");
  if (parts[0] !== "api" || parts.length > 3) throw new HttpError(404, "Not found", "no such route");
  if (parts.length === 1) {
    if (request.method !== "GET") throw methodNotAllowed("GET");
    return json({ entities: ENTITIES.map((entity) => ({ name: entity.name, path: "/api/" + entity.path })) });
  }
  const entity = BY_PATH.get(parts[1] as string);
  if (entity === undefined) throw new HttpError(404, "Not found", "no such collection");
  if (parts.length === 2) return collection(request, env, entity);
  const id = parts[2] as string;
  if (!ID_PATTERN.test(id)) throw new HttpError(404, "Not found", "no " + entity.name + " with that id");
  return item(request, env, entity, id);
}

export default {
  async fetch(request, env): Promise<Response> {
    try {
      return await route(request, env);
    } catch (error) {
      if (error instanceof HttpError) return problem(error.status, error.title, error.message, error.issues, error.headers);
      console.error(error);
      return problem(500, "Internal error", "unexpected error");
    }
  },
} satisfies ExportedHandler<Env>;
`;
}
