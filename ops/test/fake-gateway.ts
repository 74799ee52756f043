import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Ways the fake gateway can be broken, one per probe check it should trip. */
export type Fault =
  | "not-ready"
  | "cors-allows-anyone"
  | "cors-denies-allowed"
  | "jwks-private-member"
  | "jwks-head-unsupported"
  | "guest-kid-unknown"
  | "ask-500";

export const ALLOWED_ORIGIN = "https://app.example.test";
const KID = "fake-2026";
const EXPOSE = "X-Request-Id, X-Credits-Used, X-Credits-Balance";

function token(kid: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", kid })}.${part({ sub: "guest:fake" })}.c2ln`;
}

/**
 * A stand-in for the gateway's public surface that the probe reads, answering as the real one does
 * (problem+json errors, CORS from an allow-list, HEAD from GET), with `faults` breaking parts of it.
 */
export async function startFakeGateway(faults: ReadonlySet<Fault> = new Set()) {
  const requests: string[] = [];
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://fake");
    requests.push(`${request.method} ${url.pathname}`);
    let body = "";
    for await (const chunk of request) body += chunk;
    const origin = request.headers.origin;
    const allowed =
      typeof origin === "string" &&
      (faults.has("cors-allows-anyone") || (origin === ALLOWED_ORIGIN && !faults.has("cors-denies-allowed")));
    const headers: Record<string, string> = {
      Vary: "Origin",
      "X-Request-Id": String(request.headers["x-request-id"] ?? "fake-id"),
    };
    if (allowed) {
      headers["Access-Control-Allow-Origin"] = String(origin);
      headers["Access-Control-Expose-Headers"] = EXPOSE;
    }
    const send = (status: number, json: unknown, type = "application/json", extra: Record<string, string> = {}) => {
      response.writeHead(status, { ...headers, "Content-Type": type, ...extra });
      response.end(request.method === "HEAD" ? undefined : JSON.stringify(json));
    };
    const problem = (status: number, code: string) =>
      send(status, { status, code, detail: code }, "application/problem+json");

    if (request.method === "OPTIONS") {
      if (allowed) {
        headers["Access-Control-Allow-Methods"] = "GET,HEAD,POST,OPTIONS";
        headers["Access-Control-Max-Age"] = "600";
      }
      response.writeHead(204, headers);
      return response.end();
    }
    const route = `${request.method === "HEAD" ? "GET" : request.method} ${url.pathname}`;
    if (request.method === "HEAD" && url.pathname === "/.well-known/jwks.json" && faults.has("jwks-head-unsupported"))
      return problem(405, "method_not_allowed");
    switch (route) {
      case "GET /ready":
        return faults.has("not-ready") ? send(503, { ok: false, billing: "down" }) : send(200, { ok: true });
      case "GET /.well-known/jwks.json": {
        const key: Record<string, string> = { kty: "RSA", kid: KID, n: "AQAB", e: "AQAB" };
        if (faults.has("jwks-private-member")) key.d = "secret";
        return send(200, { keys: [key] }, "application/json", { "Cache-Control": "public, max-age=300" });
      }
      case "POST /auth/guest":
        if (body && body !== "{}") return problem(400, "malformed_json");
        return send(200, { token: token(faults.has("guest-kid-unknown") ? "other" : KID), sub: "guest:fake" });
      case "GET /api/me": {
        const authorization = String(request.headers.authorization ?? "");
        if (authorization === `Bearer ${token(KID)}` || authorization === `Bearer ${token("other")}`)
          return send(200, { source: "jwt", sub: "guest:fake" });
        return problem(401, "unauthorized");
      }
      case "GET /api/ai/binding":
        return send(200, { providers: [{ id: "workers-ai", configured: false }] });
      case "POST /api/si/ask":
        return faults.has("ask-500") ? problem(500, "internal") : problem(503, "not_configured");
      default:
        return problem(404, "not_found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
