/** One piece of a document, with the heading it sits under. */
export interface Chunk {
  heading: string;
  text: string;
}

/** Target chunk size and the overlap between neighbours, in characters. */
export const CHUNK_CHARS = 1200;
export const OVERLAP_CHARS = 150;

const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;

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
    const match = inFence ? null : HEADING.exec(line);
    if (match) {
      const level = (match[1] as string).length;
      path.length = level - 1;
      path[level - 1] = (match[2] as string).trim();
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
