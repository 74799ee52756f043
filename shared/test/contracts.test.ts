import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { applyMeter, ERROR_STATUS, isServiceError, normalizeEmail, parseInput, ServiceError } from "../src/index";

describe("ServiceError", () => {
  it("carries name, code, status and details as own properties", () => {
    const error = new ServiceError("insufficient_credits", "balance too low", { needed: "1.5" });
    expect(error).toMatchObject({
      name: "ServiceError",
      code: "insufficient_credits",
      status: 402,
      details: { needed: "1.5" },
    });
    expect(Object.keys(error).sort()).toEqual(["code", "details", "name", "status"]);
  });

  it("is recognised by shape, as it arrives across RPC, and only with a known code", () => {
    expect(isServiceError({ name: "ServiceError", code: "not_found", message: "x" })).toBe(true);
    expect(isServiceError({ name: "ServiceError", code: "made_up" })).toBe(false);
    expect(isServiceError({ name: "Error", code: "not_found" })).toBe(false);
    expect(isServiceError(new Error("plain"))).toBe(false);
    expect(isServiceError(null)).toBe(false);
    expect(isServiceError({ name: "ServiceError", code: "toString" })).toBe(false);
  });

  it("maps every code to a 4xx or 5xx status", () => {
    for (const status of Object.values(ERROR_STATUS)) {
      expect(status >= 400 && status < 600).toBe(true);
    }
  });
});

describe("parseInput", () => {
  const Schema = v.strictObject({ name: v.string(), tags: v.array(v.string()) });

  it("returns typed output for valid input", () => {
    expect(parseInput(Schema, { name: "a", tags: ["b"] })).toEqual({ name: "a", tags: ["b"] });
  });

  it("throws invalid_input with dotted field paths", () => {
    try {
      parseInput(Schema, { name: 1, tags: ["ok", 2] });
      expect.unreachable();
    } catch (error) {
      expect(isServiceError(error) && error.code).toBe("invalid_input");
      const issues = (error as ServiceError).details?.issues as { path: string }[];
      expect(issues.map((issue) => issue.path)).toEqual(["name", "tags.1"]);
    }
  });

  it("refuses an array where an object is expected", () => {
    expect(() => parseInput(v.object({}), [])).toThrow("expected a JSON object");
  });
});

describe("meter and email helpers", () => {
  it("writes only the meter fields that are present", () => {
    const headers = new Headers();
    applyMeter(headers, { creditsUsed: "0.000125", tokensIn: 12, provider: "groq" });
    expect([...headers.entries()]).toEqual([
      ["x-credits-used", "0.000125"],
      ["x-provider", "groq"],
      ["x-tokens-in", "12"],
    ]);
  });

  it("normalises emails and refuses non-addresses", () => {
    expect(normalizeEmail("  Ada@Example.COM ")).toBe("ada@example.com");
    for (const bad of ["", "a", "a@b", "a@@b.co", "a b@c.co", "<a@b.co>"]) expect(normalizeEmail(bad)).toBeUndefined();
  });
});
