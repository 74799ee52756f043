import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extractJson } from "../src/skills";

// The fence rule as it was written before it became a scan: the oracle for short answers only.
function oldExtract(text: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const candidate = (fenced?.[1] ?? text).trim();
  try {
    return JSON.parse(candidate);
  } catch {
    const start = candidate.search(/[[{]/);
    const end = Math.max(candidate.lastIndexOf("}"), candidate.lastIndexOf("]"));
    if (start >= 0 && end > start) return JSON.parse(candidate.slice(start, end + 1));
    throw new SyntaxError("no JSON found in the answer");
  }
}

function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (error) {
    return { error: (error as Error).name };
  }
}

describe("extractJson", () => {
  it("reads a 100 KB answer with an unclosed fence and a long run of whitespace in one pass", () => {
    // Every kind of whitespace a model can be asked to repeat, after a fence that never closes.
    for (const space of [" ", "\n", "\t", "\r\n", " \t", "\u00a0", "\u3000", "\u2028"]) {
      expect(outcome(() => extractJson(`\`\`\`${space.repeat(100_000 / space.length)}`))).toBeDefined();
      expect(outcome(() => extractJson(`\`\`\`json${space.repeat(100_000 / space.length)}{"a":1}`))).toBeDefined();
    }
    for (const hostile of ["```json ".repeat(12_500), "`".repeat(100_000), `${"{".repeat(100_000)}`])
      expect(outcome(() => extractJson(hostile))).toBeDefined();
    expect(extractJson(`\`\`\`json${" ".repeat(100_000)}{"a":1}\`\`\``)).toEqual({ a: 1 });
  });

  it("finds the same JSON as the old rule", () => {
    const piece = fc.constantFrom("```", "json", "JSON", " ", "\n", '{"a":1}', "[2]", "x", "`", "}", "{");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), (parts) => {
        const text = parts.join("");
        expect(outcome(() => extractJson(text))).toEqual(outcome(() => oldExtract(text)));
      }),
      { numRuns: 3000 },
    );
  });
});
