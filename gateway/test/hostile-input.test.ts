import { describe, expect, it } from "vitest";
import { ADMIN_KEY, ALLOWED_ORIGIN, gateway, guestToken } from "./helpers";

// What a client controls in headers, paths and query strings reaches regular expressions in the
// gateway and the services behind it. Each gets 100 KB shaped to make a backtracking pattern retry;
// the test's own timeout is the guard, and every answer is a clean one (never a 500).
const KB100 = 100_000;
const run = (unit: string, tail = "!") => unit.repeat(Math.ceil(KB100 / unit.length)) + tail;

function expectClean(response: Response): void {
  expect(response.status).toBeLessThan(500);
}

describe("100 KB of hostile input through the gateway", () => {
  it("headers: request id, origin, preflight header list, authorization", async () => {
    for (const unit of ["a", "a.", "a:", "a-", "1"]) {
      const id = await gateway("/api/me", { headers: { "X-Request-Id": run(unit) } });
      expect(id.headers.get("X-Request-Id")?.length).toBeLessThan(64);
    }
    for (const origin of [`https://${run("a")}`, `https://${run("a.")}`, `https://a${run(":1")}`, run("http://")])
      expectClean(await gateway("/ready", { headers: { Origin: origin } }));
    for (const requested of [run("a"), run("a,"), run("a "), run("!#")])
      expectClean(
        await gateway("/auth/guest", {
          method: "OPTIONS",
          headers: {
            Origin: ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
          },
        }),
      );
    for (const authorization of [
      `Bearer ${run("a")} x`,
      `Bearer ${run(" ")}`,
      `Bearer a${run(" ", "x")}`,
      `Bearer ${run("a.")}`,
      `Bearer ${run("a", "..")}`,
    ])
      expect((await gateway("/api/me", { headers: { Authorization: authorization } })).status).toBe(401);
  });

  it("ids, keys, names and cursors that reach the services", async () => {
    const { token } = await guestToken();
    const auth = { Authorization: `Bearer ${token}` };
    for (const unit of ["a", "a-", "1", "a."]) {
      expectClean(await gateway(`/api/jobs/${run(unit, "")}`, { headers: auth }));
      expectClean(await gateway(`/api/uploads/${run(unit, "")}`, { headers: auth }));
      expectClean(await gateway(`/api/rag/docs/${run(unit, "")}`, { method: "DELETE", headers: auth }));
    }
    const json = { ...auth, "Content-Type": "application/json" };
    for (const key of [run("a", " "), run("!", "\u007f")]) {
      expectClean(
        await gateway("/api/jobs", {
          method: "POST",
          headers: { ...json, "Idempotency-Key": key },
          body: JSON.stringify({ kind: "si.ask", input: { prompt: "x" } }),
        }),
      );
      expectClean(
        await gateway("/api/billing/usage", {
          method: "POST",
          headers: { ...json, "Idempotency-Key": key },
          body: JSON.stringify({ tokens_in: 1, tokens_out: 1, provider: "groq", model: "m" }),
        }),
      );
    }
    for (const name of [run(" ", "a"), run(". ", "a"), run("_"), run("%20", ""), run("%C3%A9%20")])
      expectClean(
        await gateway("/api/upload/direct", {
          method: "POST",
          headers: { ...auth, "Content-Type": "text/plain", "X-File-Name": name },
          body: "hello",
        }),
      );
    expectClean(
      await gateway("/api/upload/direct", {
        method: "POST",
        headers: { ...auth, "Content-Type": run("text/plain;") },
        body: "hello",
      }),
    );
    for (const cursor of [run("a", ""), run("1", "")]) {
      expectClean(await gateway(`/api/billing/usage?cursor=${cursor}`, { headers: auth }));
      expectClean(await gateway(`/api/uploads?cursor=${cursor}`, { headers: auth }));
      expectClean(await gateway(`/api/jobs?cursor=${cursor}`, { headers: auth }));
      expectClean(await gateway(`/api/credits/history?cursor=${cursor}`, { headers: auth }));
    }
    for (const account of [run("a", ""), `a:${run(":", "")}`, `${run("a-", "")}:x`])
      expectClean(
        await gateway(`/api/admin/limits/${account}`, {
          method: "PUT",
          headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" },
          body: JSON.stringify({ rpm: 10 }),
        }),
      );
    for (const query of [run("a "), run('"'), run("a* "), run("1 ")])
      expectClean(
        await gateway("/api/rag/query", { method: "POST", headers: json, body: JSON.stringify({ query, k: 3 }) }),
      );
  });
});
