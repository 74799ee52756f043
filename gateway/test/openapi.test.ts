import { ERROR_STATUS } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { openApiDocument, openApiPath } from "../src/openapi/document";
import { GATED_OPERATIONS, OPERATIONS } from "../src/openapi/operations";
import { gatewayRoutes } from "../src/routes";
import { ADMIN_KEY, gateway } from "./helpers";

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { description: string; content?: object }> }>>;
  components: Record<string, Record<string, unknown>>;
};

const generated = openApiDocument() as Document;

/** "METHOD /path" of every route the router serves, with OpenAPI's `{name}` parameters. */
function routerRoutes(): string[] {
  return gatewayRoutes()
    .routes.map(([method, , , path]) => `${method} ${openApiPath(path ?? "")}`)
    .sort();
}

function documentedRoutes(document: Document): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

/** A concrete path for a templated one: every `{name}` filled with a value no resource has. */
function concrete(path: string): string {
  return path.replace(/\{[^}]+\}/g, "nonexistent-0");
}

describe("the OpenAPI document", () => {
  it("documents exactly the routes the router serves", () => {
    const router = routerRoutes();
    const documented = documentedRoutes(generated);
    expect(
      documented.filter((route) => !router.includes(route)),
      "documented but not routed",
    ).toEqual([]);
    expect(
      router.filter((route) => !documented.includes(route)),
      "routed but not documented",
    ).toEqual([]);
  });

  it("names only real operations as gated, and documents their 403", () => {
    const names = new Set(OPERATIONS.map((operation) => `${operation.method} ${operation.path}`));
    expect([...GATED_OPERATIONS].filter((name) => !names.has(name))).toEqual([]);
    for (const name of GATED_OPERATIONS) {
      const [method = "", path = ""] = name.split(" ");
      expect(generated.paths[openApiPath(path)]?.[method]?.responses, name).toHaveProperty(["403"]);
    }
  });

  it("is served at /openapi.json exactly as the code generates it (run `npm run openapi` when this fails)", async () => {
    const response = await gateway("/openapi.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toContain("application/json");
    const served = await response.json();
    expect(served).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it("is OpenAPI 3.1 whose references all resolve and whose errors are problem documents (OFREP: its own)", () => {
    expect(generated.openapi).toBe("3.1.0");
    const text = JSON.stringify(generated);
    for (const match of text.matchAll(/"\$ref":"#\/components\/([^/"]+)\/([^"]+)"/g)) {
      expect(generated.components[match[1] as string]?.[match[2] as string], match[0]).toBeDefined();
    }
    for (const [path, item] of Object.entries(generated.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const statuses = Object.keys(operation.responses).map(Number);
        expect(
          statuses.some((status) => status < 300),
          `${method} ${path} has a success answer`,
        ).toBe(true);
        // OFREP's routes answer OFREP's own error bodies: the one documented exception.
        const errorType = path.startsWith("/ofrep/") ? "application/json" : "application/problem+json";
        for (const status of statuses.filter((s) => s >= 400)) {
          expect(operation.responses[String(status)]?.content, `${method} ${path} ${status}`).toHaveProperty([
            errorType,
          ]);
          expect(Object.values(ERROR_STATUS)).toContain(status);
        }
      }
    }
  });

  it('gives every JSON success answer a schema, not just "an object" (the contract test checks bodies by it)', () => {
    const bare: string[] = [];
    for (const [path, item] of Object.entries(generated.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const [status, answer] of Object.entries(operation.responses)) {
          const schema = (answer.content as Record<string, { schema?: Record<string, unknown> }> | undefined)?.[
            "application/json"
          ]?.schema;
          if (Number(status) >= 400 || !answer.content || !("application/json" in answer.content)) continue;
          if (!schema || (Object.keys(schema).length === 1 && schema.type === "object"))
            bare.push(`${method} ${path} ${status}`);
        }
      }
    }
    expect(bare).toEqual([]);
  });

  it("lists every status a route really answers without credentials", async () => {
    // Each route called with no token or admin key: whatever it answers must be in the document.
    const undocumented: string[] = [];
    for (const operation of OPERATIONS) {
      const path = openApiPath(operation.path);
      const response = await gateway(concrete(path), {
        method: operation.method.toUpperCase(),
        headers: { "Content-Type": "application/json" },
        ...(operation.method === "get" || operation.method === "delete" ? {} : { body: "{}" }),
      });
      await response.arrayBuffer();
      const documented = generated.paths[path]?.[operation.method]?.responses ?? {};
      if (!(String(response.status) in documented))
        undocumented.push(`${operation.method} ${path} → ${response.status}`);
    }
    expect(undocumented).toEqual([]);
  });

  it("lists every status an admin route answers to an admin with an empty body", async () => {
    const undocumented: string[] = [];
    for (const operation of OPERATIONS.filter((entry) => entry.auth === "admin")) {
      const path = openApiPath(operation.path);
      const response = await gateway(concrete(path), {
        method: operation.method.toUpperCase(),
        headers: { "Content-Type": "application/json", "X-Admin-Key": ADMIN_KEY },
        ...(operation.method === "get" || operation.method === "delete" ? {} : { body: "{}" }),
      });
      await response.arrayBuffer();
      const documented = generated.paths[path]?.[operation.method]?.responses ?? {};
      if (!(String(response.status) in documented))
        undocumented.push(`${operation.method} ${path} → ${response.status}`);
    }
    expect(undocumented).toEqual([]);
  });
});
