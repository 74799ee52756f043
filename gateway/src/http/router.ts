import { ServiceError } from "@cognomega/shared";
import { type IRequest, Router, type RouterType } from "itty-router";
import type { RequestContext } from "./context";

/** The gateway's router: every handler receives the request and its {@link RequestContext}. */
export type GatewayRouter = RouterType<IRequest, [RequestContext], Response>;

export function createRouter(): GatewayRouter {
  return Router<IRequest, [RequestContext], Response>();
}

type RouteEntry = GatewayRouter["routes"][number];
/** A path segment a route pattern matches only as itself: no `:param`, `*`, `+`, `?` or regex. */
const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** The pattern's leading literal segments, at most two: `/api/si/ask` → ["api", "si"]. */
function literalPrefix(path: string): string[] {
  const prefix: string[] = [];
  for (const segment of path.split("/").slice(1, 3)) {
    if (!LITERAL_SEGMENT.test(segment)) break;
    prefix.push(segment);
  }
  return prefix;
}

/**
 * Dispatches like `router.fetch`, but tries only the routes that can match the path's first two
 * segments, in the table's order, instead of testing every pattern of the table on every request
 * (itty-router walks its whole list; the gateway has about seventy routes). A route whose pattern
 * starts with literal segments can only match paths that start with those very segments, so the
 * first match, and so the answer, is the same as the whole table's. The candidate lists are built
 * once per known prefix, so a client's paths can't grow them.
 */
export function indexedDispatch(
  router: GatewayRouter,
): (request: Request, ctx: RequestContext) => Promise<Response | undefined> {
  const entries = router.routes.map((route) => ({ route, prefix: literalPrefix(route[3] ?? "") }));
  const firsts = new Set(entries.filter((e) => e.prefix.length > 0).map((e) => e.prefix[0]));
  const pairs = new Set(entries.filter((e) => e.prefix.length === 2).map((e) => `${e.prefix[0]}/${e.prefix[1]}`));
  const routers = new Map<string, GatewayRouter>();

  function routerFor(first: string | undefined, second: string | undefined): GatewayRouter {
    const one = first !== undefined && firsts.has(first) ? first : undefined;
    const two = one !== undefined && pairs.has(`${one}/${second}`) ? second : undefined;
    const key = `${one ?? ""}\n${two ?? ""}`;
    let found = routers.get(key);
    if (!found) {
      const routes: RouteEntry[] = entries
        .filter(
          ({ prefix }) => prefix.length === 0 || (prefix[0] === one && (prefix.length === 1 || prefix[1] === two)),
        )
        .map((entry) => entry.route);
      found = Router<IRequest, [RequestContext], Response>({ routes });
      routers.set(key, found);
    }
    return found;
  }

  return (request, ctx) => {
    const { pathname } = ctx.url;
    const second = pathname.indexOf("/", 1);
    const first = second === -1 ? pathname.slice(1) : pathname.slice(1, second);
    const third = second === -1 ? -1 : pathname.indexOf("/", second + 1);
    const next = second === -1 ? undefined : pathname.slice(second + 1, third === -1 ? undefined : third);
    return routerFor(first, next).fetch(request, ctx);
  };
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
