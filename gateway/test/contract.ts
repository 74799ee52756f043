// The contract test: every answer a gateway test receives is checked against the OpenAPI document,
// so the document cannot lie about what the gateway does. An answer to a documented operation must
// have a documented status; a problem document must be one; a JSON answer whose documented schema
// is more than "an object" must match it. Streams and binary answers are checked by status and
// media type only (reading them here would change what the test itself reads).

import { Validator } from "@cfworker/json-schema";
import { ERROR_STATUS } from "@cognomega/shared";
import { openApiDocument } from "../src/openapi/document";

type Schema = Record<string, unknown>;
type Answer = { content?: Record<string, { schema?: Schema }> };
type DocumentShape = {
  paths: Record<string, Record<string, { responses: Record<string, Answer> }>>;
  components: { schemas: Record<string, Schema> };
};

const document = openApiDocument() as DocumentShape;
const problemSchema = document.components.schemas.Problem as Schema;
const templates = Object.keys(document.paths).map((path) => ({
  path,
  pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+")}$`),
}));
const validators = new Map<Schema, Validator>();

/** The schema with every `#/components/schemas/…` reference replaced by what it names. */
function inlined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inlined);
  if (typeof value !== "object" || value === null) return value;
  const ref = (value as { $ref?: unknown }).$ref;
  if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) {
    return inlined(document.components.schemas[ref.slice("#/components/schemas/".length)]);
  }
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, inlined(entry)]));
}

function validatorFor(schema: Schema): Validator {
  let validator = validators.get(schema);
  if (!validator) {
    validator = new Validator(inlined(schema) as Schema, "2020-12", false);
    validators.set(schema, validator);
  }
  return validator;
}

/** The documented operation for a method and path, when there is one. */
function operationFor(
  method: string,
  pathname: string,
): { path: string; responses: Record<string, Answer> } | undefined {
  const lower = method.toLowerCase() === "head" ? "get" : method.toLowerCase();
  // A literal path wins over a template that also matches it (`/api/scaffold/graph` vs `{id}`).
  const exact = document.paths[pathname]?.[lower];
  if (exact) return { path: pathname, responses: exact.responses };
  for (const { path, pattern } of templates) {
    const operation = document.paths[path]?.[lower];
    if (operation && pattern.test(pathname)) return { path, responses: operation.responses };
  }
  return undefined;
}

/** Throws when `response` (to `request`) is not what the document says the operation answers. */
export async function checkAgainstDocument(request: Request, response: Response): Promise<void> {
  if (request.method === "OPTIONS") return;
  const url = new URL(request.url);
  const operation = operationFor(request.method, url.pathname);
  if (!operation) return;
  const where = `${request.method} ${url.pathname} → ${response.status}`;
  const documented = operation.responses[String(response.status)];
  // 304 answers a conditional request; 405 a method the path lacks (neither is the operation's).
  if (response.status === 304) return;
  if (!documented) throw new Error(`contract: ${where} is not a documented answer of ${operation.path}`);
  const type = (response.headers.get("Content-Type") ?? "").split(";")[0]?.trim() ?? "";
  if (request.method === "HEAD" || response.status === 204) return;
  if (type === "application/problem+json") {
    const body = (await response.clone().json()) as { code?: string; status?: number };
    const result = validatorFor(problemSchema).validate(body);
    if (!result.valid) throw new Error(`contract: ${where} problem body: ${JSON.stringify(result.errors[0])}`);
    if (
      !(body.code && body.code in ERROR_STATUS) ||
      ERROR_STATUS[body.code as keyof typeof ERROR_STATUS] !== response.status
    )
      throw new Error(`contract: ${where} carries code ${body.code}, whose status is not ${response.status}`);
    return;
  }
  const media = documented.content ?? {};
  if (
    !(type in media) &&
    !Object.keys(media).some((name) => name === "*/*" || name.split("/")[0] === type.split("/")[0])
  )
    throw new Error(`contract: ${where} answered ${type || "no type"}, documented: ${Object.keys(media).join(", ")}`);
  const schema = media[type]?.schema;
  if (schema?.$ref && type === "application/json") {
    const result = validatorFor(schema).validate(await response.clone().json());
    if (!result.valid) throw new Error(`contract: ${where} body: ${JSON.stringify(result.errors[0])}`);
    return;
  }
  if (type !== "application/json" || !schema || (Object.keys(schema).length === 1 && schema.type === "object")) return;
  const result = validatorFor(schema).validate(await response.clone().json());
  if (!result.valid) {
    const first = result.errors.slice(0, 3).map((error) => `${error.instanceLocation}: ${error.error}`);
    throw new Error(`contract: ${where} body does not match the document: ${first.join("; ")}`);
  }
}
