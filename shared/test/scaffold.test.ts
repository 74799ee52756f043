import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { SCAFFOLD_ID, ScaffoldGraphRequest, ScaffoldListQuery, uuidV7 } from "../src/index";

describe("scaffold contracts", () => {
  it("makes UUID v7 ids that carry their time and sort by it", () => {
    const rest = new Uint8Array(10).fill(0xff);
    const early = uuidV7(1_700_000_000_000, rest);
    const late = uuidV7(1_700_000_000_001, new Uint8Array(10));
    expect(early).toMatch(SCAFFOLD_ID);
    expect(late).toMatch(SCAFFOLD_ID);
    expect(early < late).toBe(true);
    expect(Number.parseInt(early.slice(0, 8) + early.slice(9, 13), 16)).toBe(1_700_000_000_000);
  });

  it("reads list limits from a query string or a number, and only ids as cursors", () => {
    expect(v.parse(ScaffoldListQuery, { limit: "20" })).toEqual({ limit: 20 });
    expect(v.parse(ScaffoldListQuery, { limit: 100 })).toEqual({ limit: 100 });
    const cursor = uuidV7(Date.now(), new Uint8Array(10));
    expect(v.parse(ScaffoldListQuery, { cursor })).toEqual({ cursor });
    for (const bad of [{ limit: "0" }, { limit: "101" }, { limit: "1e2" }, { limit: 2.5 }, { cursor: "../x" }])
      expect(v.safeParse(ScaffoldListQuery, bad).success, JSON.stringify(bad)).toBe(false);
  });

  it("takes a prompt and an optional model or policy, nothing else", () => {
    expect(v.safeParse(ScaffoldGraphRequest, { prompt: "a todo app", policy: "cheapest" }).success).toBe(true);
    for (const bad of [{}, { prompt: "" }, { prompt: "x", skill: "general" }, { prompt: "x", policy: "best" }])
      expect(v.safeParse(ScaffoldGraphRequest, bad).success, JSON.stringify(bad)).toBe(false);
  });
});
