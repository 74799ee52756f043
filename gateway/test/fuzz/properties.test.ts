import { describe, expect, it } from "vitest";
import { BASE } from "../helpers";
import { answerViolations } from "./properties";

// The fuzzer's properties must be able to fail: each answer here breaks one of them.
const problem = (status: number, code: string) =>
  new Response(
    JSON.stringify({
      type: `https://api.cognomega.com/problems/${code}`,
      title: "Not found",
      status,
      detail: "x",
      code,
      request_id: "r",
    }),
    { status, headers: { "Content-Type": "application/problem+json" } },
  );

describe("the fuzzer's answer properties", () => {
  const jobs = new Request(`${BASE}/api/jobs/some-id`);
  const flag = new Request(`${BASE}/ofrep/v1/evaluate/flags/some.flag`, { method: "POST" });

  it("accept a documented problem", async () => {
    expect(await answerViolations(jobs, problem(404, "not_found"))).toEqual([]);
  });

  it("refuse a 500, a 502 and a 503 that is not about configuration or an outage", async () => {
    for (const [status, code] of [
      [500, "internal"],
      [502, "upstream_error"],
      [503, "internal"],
    ] as const)
      expect(await answerViolations(jobs, problem(status, code))).not.toEqual([]);
  });

  it("refuse a 4xx that is not problem+json, or whose code is not its status's", async () => {
    expect(await answerViolations(jobs, new Response("nope", { status: 404 }))).not.toEqual([]);
    expect(await answerViolations(jobs, problem(404, "conflict"))).not.toEqual([]);
    expect(await answerViolations(jobs, problem(404, "no_such_code"))).not.toEqual([]);
  });

  it("want OFREP's error bodies on OFREP routes, and a documented status everywhere", async () => {
    expect(await answerViolations(flag, problem(404, "not_found"))).not.toEqual([]);
    const ofrep = Response.json({ key: "some.flag", errorCode: "FLAG_NOT_FOUND" }, { status: 404 });
    expect(await answerViolations(flag, ofrep)).toEqual([]);
    expect(await answerViolations(jobs, problem(412, "precondition_failed"))).not.toEqual([]);
  });

  it("refuse a negative balance header", async () => {
    const answer = Response.json({ jobs: [] }, { headers: { "X-Credits-Balance": "-0.5" } });
    expect((await answerViolations(new Request(`${BASE}/api/jobs`), answer)).join()).toContain("X-Credits-Balance");
  });
});
