import { describe, expect, it } from "vitest";
import { ALLOWED_ORIGIN, gateway } from "./helpers";

const EXPOSED = [
  "Content-Type",
  "Content-Disposition",
  "X-Request-Id",
  "X-Credits-Used",
  "X-Credits-Balance",
  "X-Tokens-In",
  "X-Tokens-Out",
  "X-Provider",
  "X-Model",
  "X-Characters",
  "X-Audio-Seconds",
  "X-Limit-Requests-Limit",
  "X-Limit-Requests-Remaining",
  "X-Limit-Requests-Reset",
  "X-Limit-Credits-Limit",
  "X-Limit-Credits-Remaining",
  "X-Limit-Credits-Reset",
  "RateLimit",
  "RateLimit-Policy",
  "Retry-After",
  // The bulk OFREP answer's version: browser providers send it back as If-None-Match.
  "ETag",
];

function allowHeaders(response: Response): string[] {
  return [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));
}

describe("CORS", () => {
  it("answers an allowed origin with its own origin and the exposed billing headers", async () => {
    const response = await gateway("/ready", { headers: { Origin: ALLOWED_ORIGIN } });
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(ALLOWED_ORIGIN);
    expect(response.headers.get("Access-Control-Expose-Headers")?.split(", ")).toEqual(EXPOSED);
    expect(response.headers.get("Vary")).toContain("Origin");
  });

  it("matches origins exactly: a second configured origin works, near misses do not", async () => {
    const ok = await gateway("/ready", { headers: { Origin: "http://localhost:5173" } });
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe("http://localhost:5173");
    for (const origin of [
      "https://app.example.com.evil.com",
      "https://evil-app.example.com",
      "http://app.example.com",
      "https://app.example.com:443",
      "https://APP.example.com",
      "https://app.example.com/",
    ]) {
      const response = await gateway("/ready", { headers: { Origin: origin } });
      expect(allowHeaders(response), origin).toEqual([]);
      expect(response.headers.get("Vary")).toContain("Origin");
    }
  });

  it("gives disallowed, malformed and null origins no Access-Control-Allow-* headers at all", async () => {
    for (const origin of ["https://evil.example", "null", "not a url", "javascript:alert(1)", ""]) {
      const response = await gateway("/ready", { headers: { Origin: origin } });
      expect(allowHeaders(response), origin).toEqual([]);
      expect(response.headers.get("Vary")).toContain("Origin");
    }
  });

  it("puts Vary: Origin on answers without an Origin, errors included", async () => {
    const response = await gateway("/no/such/route");
    expect(response.status).toBe(404);
    expect(response.headers.get("Vary")).toContain("Origin");
    expect(allowHeaders(response)).toEqual([]);
  });

  it("answers an allowed preflight 204 with methods, base and requested headers, and a max age", async () => {
    const response = await gateway("/api/credits", {
      method: "OPTIONS",
      headers: {
        Origin: ALLOWED_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, idempotency-key, x-custom-thing",
      },
    });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(ALLOWED_ORIGIN);
    expect(response.headers.get("Access-Control-Allow-Methods")).toBe("GET,HEAD,POST,PUT,DELETE,OPTIONS,PATCH");
    const allowed = response.headers.get("Access-Control-Allow-Headers")?.split(", ") ?? [];
    for (const name of ["Authorization", "Content-Type", "X-User-Email", "X-Admin-Key", "X-Admin-Token"]) {
      expect(allowed).toContain(name);
    }
    // Header names are case-insensitive: each is listed once.
    const lower = allowed.map((name) => name.toLowerCase());
    expect(lower.length).toBe(new Set(lower).size);
    expect(allowed).toContain("idempotency-key");
    expect(allowed).toContain("x-custom-thing");
    expect(Number(response.headers.get("Access-Control-Max-Age"))).toBeGreaterThan(0);
    expect(response.headers.get("Vary")).toContain("Origin");
    expect(response.headers.get("X-Request-Id")).toBeTruthy();
  });

  it("drops requested header names that are not header tokens", async () => {
    const response = await gateway("/ready", {
      method: "OPTIONS",
      headers: {
        Origin: ALLOWED_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "ok-name, bad name, x(y)",
      },
    });
    const allowed = response.headers.get("Access-Control-Allow-Headers")?.split(", ") ?? [];
    expect(allowed).toContain("ok-name");
    expect(allowed).not.toContain("bad name");
    expect(allowed).not.toContain("x(y)");
  });

  it("answers a disallowed preflight 204 with no Access-Control-Allow-* headers", async () => {
    for (const origin of ["https://evil.example", "null"]) {
      const response = await gateway("/auth/guest", {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
      });
      expect(response.status).toBe(204);
      expect(allowHeaders(response)).toEqual([]);
      expect(response.headers.get("Vary")).toContain("Origin");
    }
  });
});
