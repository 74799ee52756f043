import { ServiceError } from "@cognomega/shared";
import { type IRequest, Router, type RouterType } from "itty-router";
import type { RequestContext } from "./context";

/** The gateway's router: every handler receives the request and its {@link RequestContext}. */
export type GatewayRouter = RouterType<IRequest, [RequestContext], Response>;

export function createRouter(): GatewayRouter {
  return Router<IRequest, [RequestContext], Response>();
}

/** Methods some route answers for this path, for a 405's `Allow` header; empty when none. */
export function allowedMethods(router: GatewayRouter, pathname: string): string[] {
  const methods = new Set<string>();
  for (const [method, pattern] of router.routes) {
    if (method !== "ALL" && pattern.test(pathname)) methods.add(method);
  }
  if (methods.size === 0) return [];
  if (methods.has("GET")) methods.add("HEAD");
  methods.add("OPTIONS");
  return [...methods].sort();
}

/**
 * A path parameter, percent-decoded. itty-router leaves params encoded; malformed encoding (`%ZZ`)
 * is the client's mistake, so it is a 400, never a URIError turned 500.
 */
export function pathParam(request: { params: Record<string, string | undefined> }, name: string): string {
  try {
    return decodeURIComponent(request.params[name] ?? "");
  } catch {
    throw new ServiceError("invalid_input", `the ${name} in the path is not valid percent-encoding`, {
      issues: [{ path: name, message: "malformed percent-encoding" }],
    });
  }
}
