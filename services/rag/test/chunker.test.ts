import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkText, parseHeading } from "../src/chunker";

// The heading rule as it was written before it became a scan: the oracle for short lines only, since
// it backtracks quadratically on long runs of spaces.
const OLD_HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;

function oldHeading(line: string): { level: number; title: string } | null {
  const match = OLD_HEADING.exec(line);
  return match ? { level: (match[1] as string).length, title: (match[2] as string).trim() } : null;
}

describe("markdown headings", () => {
  it("reads a heading line of 100 KB of spaces in one pass", () => {
    const line = `# a${" ".repeat(100_000)}b`;
    expect(parseHeading(line)).toEqual({ level: 1, title: `a${" ".repeat(100_000)}b` });
    const chunks = chunkText(`${line}\nbody`);
    expect(chunks[0]?.heading.length).toBe(100_002);
    for (const hostile of [
      `# ${" ".repeat(100_000)}`,
      `# a${" ".repeat(100_000)}`,
      `# a${" #".repeat(50_000)}x`,
      `###### ${"#".repeat(100_000)}`,
      `# ${"\u2028 ".repeat(50_000)}a`,
      " ".repeat(100_000),
      `${" ".repeat(100_000)}\`\`\``,
    ])
      expect(() => chunkText(`${hostile}\n${hostile}`)).not.toThrow();
  });

  it("matches exactly what the old rule matched", () => {
    const char = fc.constantFrom("#", " ", "\t", "a", "b", "\u00a0", "\u2028", "\u3000", "x#");
    fc.assert(
      fc.property(fc.array(char, { maxLength: 14 }), (parts) => {
        const line = parts.join("");
        expect(parseHeading(line)).toEqual(oldHeading(line));
        expect(parseHeading(`#${line}`)).toEqual(oldHeading(`#${line}`));
      }),
      { numRuns: 3000 },
    );
    for (const line of ["# Title", "## A ##", "# C#", "# #", "#  ", "# ", "####### x", "#\tx\t#\t", "## ##", "#x"])
      expect(parseHeading(line), line).toEqual(oldHeading(line));
  });
});
