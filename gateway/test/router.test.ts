import type { IRequest } from "itty-router";
import { describe, expect, it } from "vitest";
import type { RequestContext } from "../src/http/context";
import { randomRequestId } from "../src/http/request-id";
import { createRouter, type GatewayRouter, indexedDispatch } from "../src/http/router";
import { gatewayRoutes } from "../src/routes";

/** A route table with every handler replaced by one that names its route. */
function namingRouter(table: GatewayRouter["routes"]): GatewayRouter {
  const router = createRouter();
  for (const [method, pattern, , path] of table) {
    router.routes.push([
      method,
      pattern,
      [(request: IRequest) => new Response(`${method} ${path} ${JSON.stringify(request.params)}`)],
      path,
    ]);
  }
  return router;
}

/** Patterns the gateway doesn't use today but a new route might: parameters early, wildcards. */
function unusualTable(): GatewayRouter["routes"] {
  const router = createRouter();
  const named = () => new Response("");
  router.get("/:tenant/items", named);
  router.get("/api/:id/detail", named);
  router.get("/api/si.:format", named);
  router.all("/files/*", named);
  router.get("/api/si/ask", named);
  router.post("/a/b/c/:d+", named);
  router.get("/ready", named);
  router.get("*", named);
  return router.routes;
}

async function expectSameRoutes(router: GatewayRouter, minimumPaths: number): Promise<void> {
  const dispatch = indexedDispatch(router);
  const paths = probePaths(router);
  expect(paths.length).toBeGreaterThan(minimumPaths);
  const reached = new Set<string>();
  for (const path of paths) {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
      const url = new URL(`https://api.test${path}`);
      const ctx = { url } as unknown as RequestContext;
      const whole = await answer(() => router.fetch(new Request(url, { method }), ctx));
      const indexed = await answer(() => dispatch(new Request(url, { method }), ctx));
      expect(indexed, `${method} ${path}`).toBe(whole);
      reached.add(whole.split(" {")[0] ?? whole);
    }
  }
  // The probes reach every route, so the comparison covers each of them.
  for (const [method, , , path] of router.routes) expect(reached).toContain(`${method} ${path}`);
}

/** Paths to try: each route's own, with parameters filled in, and the ways a client bends them. */
function probePaths(router: GatewayRouter): string[] {
  const paths = new Set<string>(["/", "//", "/api", "/api/", "/nope", "/api/nope/deeper", "/%2e%2e/api", "/API/me"]);
  for (const [, , , path] of router.routes) {
    const filled = (path ?? "/").replace(/:[A-Za-z]+\+?/g, "x%20y");
    for (const variant of [
      filled,
      `${filled}/`,
      `${filled}//`,
      `/${filled}`,
      filled.toUpperCase(),
      `${filled}/extra`,
      filled.replace(/^\/[^/]+/, "/other"),
      filled.replace(/^(\/[^/]+)\/[^/]+/, "$1/other"),
    ]) {
      paths.add(variant);
    }
  }
  return [...paths];
}

async function answer(fetch: () => Promise<Response | undefined>): Promise<string> {
  const response = await fetch();
  return response ? await response.text() : "(no route)";
}

describe("the gateway's route index", () => {
  it("picks the same route, with the same parameters, as the whole table for every path", () =>
    expectSameRoutes(namingRouter(gatewayRoutes().routes), 400));

  it("keeps the table's order with parameters, wildcards and catch-alls in the first segments", () =>
    expectSameRoutes(namingRouter(unusualTable()), 40));
});

describe("request ids", () => {
  it("are random version 4 UUIDs, distinct across many pool refills", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = randomRequestId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(5_000);
  });
});
