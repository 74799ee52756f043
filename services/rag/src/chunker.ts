/** One piece of a document, with the heading it sits under. */
export interface Chunk {
  heading: string;
  text: string;
}

/** Target chunk size and the overlap between neighbours, in characters. */
export const CHUNK_CHARS = 1200;
export const OVERLAP_CHARS = 150;

/** JavaScript's `\s`, one character at a time (a single-character test cannot backtrack). */
const WHITESPACE = /\s/;
/** What `.` does not match: a title cannot run across these. */
const LINE_TERMINATORS = "\n\r\u2028\u2029";

/**
 * A markdown heading line (`## Title ##`): its level and title, or null. The same lines and titles as
 * `/^(#{1,6})\s+(.+?)\s*#*\s*$/`, found in one pass: that regex backtracks quadratically on a long run
 * of spaces inside a heading, so a few kilobytes of ingested text could pin an isolate.
 */
export function parseHeading(line: string): { level: number; title: string } | null {
  let level = 0;
  while (level < line.length && line[level] === "#") level++;
  if (level === 0 || level > 6) return null;
  const isSpace = (at: number) => WHITESPACE.test(line[at] as string);
  if (level >= line.length || !isSpace(level)) return null;
  let start = level + 1;
  while (start < line.length && isSpace(start)) start++;
  if (start === line.length) {
    // Only whitespace after the hashes: the regex lends one of its characters (not a line
    // terminator) to the title, which trims to nothing. The first one is the hashes' own separator.
    for (let at = level + 1; at < line.length; at++)
      if (!LINE_TERMINATORS.includes(line[at] as string)) return { level, title: "" };
    return null;
  }
  // The title ends where the longest tail of whitespace, closing hashes and whitespace begins,
  // and has at least one character.
  let end = line.length;
  while (end > start && isSpace(end - 1)) end--;
  while (end > start && line[end - 1] === "#") end--;
  while (end > start && isSpace(end - 1)) end--;
  end = Math.max(end, start + 1);
  for (let at = start; at < end; at++) if (LINE_TERMINATORS.includes(line[at] as string)) return null;
  return { level, title: line.slice(start, end).trim() };
}

/**
 * Splits text into chunks: first by markdown headings (each section keeps its heading path, e.g.
 * "Setup › Keys"), then by size at paragraph, line or sentence boundaries, with an overlap so a
 * passage cut in two is still found whole in one of them.
 */
export function chunkText(text: string): Chunk[] {
  const sections: { heading: string; body: string[] }[] = [{ heading: "", body: [] }];
  const path: string[] = [];
  let inFence = false;
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const heading = inFence ? null : parseHeading(line);
    if (heading) {
      const { level, title } = heading;
      path.length = level - 1;
      path[level - 1] = title;
      sections.push({ heading: path.filter(Boolean).join(" › "), body: [] });
    } else {
      (sections.at(-1) as { body: string[] }).body.push(line);
    }
  }
  const chunks: Chunk[] = [];
  for (const section of sections) {
    const body = section.body.join("\n").trim();
    if (body === "" && section.heading === "") continue;
    for (const piece of splitBySize(body === "" ? section.heading : body))
      chunks.push({ heading: section.heading, text: piece });
  }
  return chunks;
}

function cutPoint(text: string, limit: number): number {
  const window = text.slice(0, limit);
  for (const separator of ["\n\n", "\n", ". ", " "]) {
    const at = window.lastIndexOf(separator);
    if (at > limit * 0.5) return at + separator.length;
  }
  return limit;
}

function splitBySize(text: string): string[] {
  if (text.length <= CHUNK_CHARS) return [text];
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    const rest = text.slice(start);
    if (rest.length <= CHUNK_CHARS) {
      pieces.push(rest.trim());
      break;
    }
    const cut = cutPoint(rest, CHUNK_CHARS);
    pieces.push(rest.slice(0, cut).trim());
    // Step back by the overlap, to a word boundary, but always move forward.
    let next = start + cut - OVERLAP_CHARS;
    const space = text.indexOf(" ", next);
    if (space >= 0 && space < start + cut) next = space + 1;
    start = Math.max(next, start + 1);
  }
  return pieces.filter((p) => p.length > 0);
}
