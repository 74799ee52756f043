import { type EntityModel, embedJson } from "./model";

/** `test/suite.ts`: every entity's CRUD and validation, driven over HTTP through a `send` function. */
export function suiteSource(): string {
  return `// Every entity's CRUD and each validation failure, over HTTP. It only needs a way to send a
// request, so the same suite runs in this project (test/send.ts) and against a bundled build.
import { describe, expect, it } from "vitest";
import { type Entity, ENTITIES, type Field } from "../src/schema";

/** A response, its body parsed. */
export interface Answer {
  status: number;
  type: string | null;
  body: any;
}

/** Sends one request to the app's Worker. */
export type Send = (method: string, path: string, body?: unknown) => Promise<Answer>;

const BY_NAME = new Map<string, Entity>(ENTITIES.map((entity) => [entity.name, entity]));
const MISSING_ID = "00000000-0000-7000-8000-000000000000";
const DAY = 86_400_000;
let counter = 0;

/** A valid value of a field, distinct for each n (so unique fields never clash by accident). */
export function sample(field: Field, n: number): unknown {
  const base = Date.UTC(2024, 0, 1);
  switch (field.type) {
    case "string":
      return "sample " + field.name + " " + n;
    case "text":
      return "Some longer text, number " + n + ".";
    case "integer":
      return n;
    case "number":
      return n + 0.5;
    case "boolean":
      return n % 2 === 0;
    case "date":
      return new Date(base + n * DAY).toISOString().slice(0, 10);
    case "datetime":
      return new Date(base + n * 1000).toISOString();
    case "email":
      return "user" + n + "@example.com";
    case "url":
      return "https://example.com/page/" + n;
    case "image":
      return "https://example.com/images/" + n + ".png";
    case "enum":
      return (field.values as string[])[n % (field.values as string[]).length];
    case "reference":
      return MISSING_ID;
  }
}

/** A value of the wrong JSON type for a field. */
function wrongType(field: Field): unknown {
  if (field.type === "integer") return 1.5;
  if (field.type === "number") return "many";
  if (field.type === "boolean") return "yes";
  return 12345;
}

/** Well-typed values the field's format refuses. */
function badFormats(field: Field): unknown[] {
  switch (field.type) {
    case "email":
      return ["not-an-email", "a@b", "two@@example.com"];
    case "url":
    case "image":
      return ["not a url", "ftp://example.com/file", "javascript:alert(1)"];
    case "date":
      return ["2024-02-30", "01/02/2024"];
    case "datetime":
      return ["yesterday", "2024-01-01T10:00:00"];
    case "enum":
      return ["not-one-of-them"];
    case "string":
      return field.required ? ["", "x".repeat(256)] : ["x".repeat(256)];
    default:
      return [];
  }
}

/** The entities a row of \`name\` needs before it can exist: itself and, through required references, their needs. */
function requiredClosure(name: string, out = new Set<string>()): Set<string> {
  if (out.has(name)) return out;
  out.add(name);
  for (const field of (BY_NAME.get(name) as Entity).fields)
    if (field.type === "reference" && field.required) requiredClosure(field.ref as string, out);
  return out;
}

/** A valid body: referenced rows are created first, following references only until they loop back. */
export async function validBody(send: Send, entity: Entity, seen: string[] = []): Promise<Record<string, unknown>> {
  const n = ++counter;
  const body: Record<string, unknown> = {};
  const path = [...seen, entity.name];
  for (const field of entity.fields) {
    if (field.type !== "reference") {
      body[field.name] = sample(field, n);
      continue;
    }
    // Cycles of required references are refused by the graph check, so any loop back into the rows
    // being built passes through an optional reference: leave that one out.
    if (!field.required && [...requiredClosure(field.ref as string)].some((name) => path.includes(name))) continue;
    const target = BY_NAME.get(field.ref as string) as Entity;
    const created = await send("POST", "/api/" + target.path, await validBody(send, target, path));
    expect(created.status).toBe(201);
    body[field.name] = created.body.id;
  }
  return body;
}

async function create(send: Send, entity: Entity): Promise<Record<string, any>> {
  const answer = await send("POST", "/api/" + entity.path, await validBody(send, entity));
  expect(answer.status).toBe(201);
  return answer.body;
}

function expectProblem(answer: Answer, status: number, path?: string): void {
  expect(answer.status).toBe(status);
  expect(answer.type).toBe("application/problem+json");
  expect(answer.body.status).toBe(status);
  if (path !== undefined) expect(answer.body.issues.map((issue: { path: string }) => issue.path)).toContain(path);
}

/** Registers the CRUD and validation tests of one entity. */
export function crudSuite(entity: Entity, send: Send): void {
  const collection = "/api/" + entity.path;

  describe(entity.name + " at " + collection, () => {
    it("creates (201), reads, updates, lists and deletes (204) a row", async () => {
      const body = await validBody(send, entity);
      const created = await send("POST", collection, body);
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject(body);
      expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.body.created_at).toBe(created.body.updated_at);

      const read = await send("GET", collection + "/" + created.body.id);
      expect(read).toMatchObject({ status: 200, body: created.body });

      const changes = await validBody(send, entity);
      const updated = await send("PATCH", collection + "/" + created.body.id, changes);
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ ...changes, id: created.body.id, created_at: created.body.created_at });
      expect(updated.body.updated_at >= created.body.updated_at).toBe(true);

      const deleted = await send("DELETE", collection + "/" + created.body.id);
      expect(deleted.status).toBe(204);
      expectProblem(await send("GET", collection + "/" + created.body.id), 404);
    });

    it("lists every row once, a page at a time, with limit and cursor", async () => {
      const ids = [(await create(send, entity)).id, (await create(send, entity)).id, (await create(send, entity)).id];
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 1000; pages++) {
        const page: Answer = await send("GET", collection + "?limit=2" + (cursor ? "&cursor=" + cursor : ""));
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items.map((row: { id: string }) => row.id));
        cursor = page.body.next_cursor;
        if (cursor === null) break;
      }
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of ids) expect(seen).toContain(id);
      expectProblem(await send("GET", collection + "?limit=0"), 400, "limit");
      expectProblem(await send("GET", collection + "?limit=abc"), 400, "limit");
      expectProblem(await send("GET", collection + "?cursor=nope"), 400, "cursor");
    });

    it("answers 404 for an unknown id", async () => {
      expectProblem(await send("GET", collection + "/" + MISSING_ID), 404);
      expectProblem(await send("PATCH", collection + "/" + MISSING_ID, await validBody(send, entity)), 404);
      expectProblem(await send("DELETE", collection + "/" + MISSING_ID), 404);
      expectProblem(await send("GET", collection + "/not-an-id"), 404);
    });

    it("refuses unknown and generated fields, and a body that is not a JSON object", async () => {
      expectProblem(await send("POST", collection, { ...(await validBody(send, entity)), notAField: 1 }), 400, "notAField");
      expectProblem(await send("POST", collection, { ...(await validBody(send, entity)), id: MISSING_ID }), 400, "id");
      expectProblem(await send("POST", collection, [1, 2]), 400);
      const row = await create(send, entity);
      expectProblem(await send("PATCH", collection + "/" + row.id, {}), 400);
    });

    for (const field of entity.fields) {
      if (field.required)
        it("refuses a missing " + field.name + " (required)", async () => {
          const body = await validBody(send, entity);
          delete body[field.name];
          expectProblem(await send("POST", collection, body), 400, field.name);
          const row = await create(send, entity);
          expectProblem(await send("PATCH", collection + "/" + row.id, { [field.name]: null }), 400, field.name);
        });

      it("refuses a wrong type for " + field.name + " (" + field.type + ")", async () => {
        const body = { ...(await validBody(send, entity)), [field.name]: wrongType(field) };
        expectProblem(await send("POST", collection, body), 400, field.name);
      });

      for (const bad of badFormats(field))
        it("refuses " + JSON.stringify(bad).slice(0, 40) + " for " + field.name + " (" + field.type + ")", async () => {
          const body = { ...(await validBody(send, entity)), [field.name]: bad };
          expectProblem(await send("POST", collection, body), 400, field.name);
        });

      if (field.type === "reference")
        it("refuses a reference to a missing " + field.ref + " in " + field.name, async () => {
          const body = { ...(await validBody(send, entity)), [field.name]: MISSING_ID };
          expectProblem(await send("POST", collection, body), 400, field.name);
        });

      if (field.unique)
        it("answers 409 when " + field.name + " is already taken", async () => {
          const first = await create(send, entity);
          const body = { ...(await validBody(send, entity)), [field.name]: first[field.name] };
          expectProblem(await send("POST", collection, body), 409, field.name);
          const second = await create(send, entity);
          expectProblem(await send("PATCH", collection + "/" + second.id, { [field.name]: first[field.name] }), 409, field.name);
        });
    }
  });
}
`;
}

/** `test/send.ts`: requests to this project's own Worker inside vitest-pool-workers. */
export function sendSource(): string {
  return `import { exports } from "cloudflare:workers";
import type { Send } from "./suite";

const worker = (exports as unknown as { default: Fetcher }).default;

/** Sends a request to the Worker under test (src/index.ts, with the D1 migrations applied). */
export const send: Send = async (method, path, body) => {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const response = await worker.fetch(new Request("http://app.test" + path, init));
  const text = await response.text();
  return { status: response.status, type: response.headers.get("content-type"), body: text ? JSON.parse(text) : null };
};
`;
}

/** `test/<entity>.test.ts`: one entity's suite. */
export function entityTestSource(entity: EntityModel, index: number): string {
  return [
    'import { ENTITIES, type Entity } from "../src/schema";',
    'import { send } from "./send";',
    'import { crudSuite } from "./suite";',
    "",
    `// ${embedJson(entity.name)} at /api/${entity.path}.`,
    `crudSuite(ENTITIES[${index}] as Entity, send);`,
    "",
  ].join("\n");
}

/** `test/apply-migrations.ts`: every test file starts on a database with migrations/ applied. */
export function applyMigrationsSource(): string {
  return [
    'import { applyD1Migrations } from "cloudflare:test";',
    'import { env } from "cloudflare:workers";',
    "",
    "// Applied once per database: already-applied migrations are skipped.",
    "await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);",
    "",
  ].join("\n");
}

/** `test/env.d.ts`: the bindings tests see. */
export function testEnvSource(): string {
  return [
    "declare namespace Cloudflare {",
    "  interface Env {",
    "    DB: D1Database;",
    '    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];',
    "  }",
    "}",
    "",
  ].join("\n");
}

/** `vitest.config.ts`: the Worker in workerd through @cloudflare/vitest-pool-workers, offline. */
export function vitestConfigSource(): string {
  return [
    'import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";',
    'import { defineConfig } from "vitest/config";',
    "",
    "// The migrations are read here (in Node) and applied inside workerd by test/apply-migrations.ts.",
    'const migrations = await readD1Migrations("./migrations");',
    "",
    "export default defineConfig({",
    "  plugins: [",
    "    cloudflareTest({",
    '      main: "./src/index.ts",',
    '      wrangler: { configPath: "./wrangler.jsonc" },',
    "      remoteBindings: false,",
    "      miniflare: { bindings: { TEST_MIGRATIONS: migrations } },",
    "    }),",
    "  ],",
    '  test: { include: ["test/**/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },',
    "});",
    "",
  ].join("\n");
}
