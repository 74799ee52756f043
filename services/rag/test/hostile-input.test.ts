import { describe, expect, it } from "vitest";
import { ftsQuery } from "../src/index-do";

// A query's terms are pulled out by a pattern before FTS5 sees them; 100 KB of anything completes
// (the test's own timeout is the guard). Headings and fences: chunker.test.ts.
describe("FTS query sanitising on 100 KB of hostile input", () => {
  it("keeps at most 32 quoted terms", () => {
    for (const unit of ["a ", "a", '"', "a* ", "1 ", "é\u0301 ", "-- ;"]) {
      const query = ftsQuery(unit.repeat(Math.ceil(100_000 / unit.length)));
      expect((query ?? "").split(" OR ").length).toBeLessThanOrEqual(32);
    }
    expect(ftsQuery("a b cc 7")).toBe('"cc" OR "7"');
  });
});
