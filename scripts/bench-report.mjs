// What every benchmark hands `npm run bench`: its human output stays as it is, and its last line
// is one `bench-result {json}` line with the headline figures, which scripts/bench.mjs parses into
// the table in docs/benchmarks.md. Run alone, a benchmark prints that line too; it is the same data.

/** The prefix of a benchmark's result line on its standard output. */
export const RESULT_PREFIX = "bench-result ";

/**
 * A headline figure. `target` is text such as "≤ 1 ms" (null: reported, not judged); `pass` is
 * whether the value meets it (null when there is no target).
 */
export function figure(name, value, unit, target = null, pass = null) {
  return { name, value, unit, target, pass };
}

/** Prints the result line of benchmark `bench` (e.g. "si"): its figures and any notes. */
export function printResult(bench, figures, notes = []) {
  console.log(`${RESULT_PREFIX}${JSON.stringify({ bench, figures, notes })}`);
}

/** The result a benchmark printed, from its whole standard output; undefined if it printed none. */
export function parseResult(stdout) {
  const line = stdout
    .split("\n")
    .reverse()
    .find((text) => text.startsWith(RESULT_PREFIX));
  return line === undefined ? undefined : JSON.parse(line.slice(RESULT_PREFIX.length));
}

/** The value at percentile `p` (0–100) of an ascending list. */
export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The median of a list of numbers (the upper one of the middle two). */
export function median(list) {
  return [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
}
