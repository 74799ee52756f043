import { type Zippable, zipSync } from "fflate";
import type { ProjectFile } from "./render";

/**
 * Every entry's modification time. A zip stores local DOS time (2-second resolution, from 1980), so
 * a fixed moment keeps the same files giving the same archive bytes, and so the same SHA-256.
 */
export const ZIP_MTIME = new Date(2026, 0, 1, 0, 0, 0);

/** The files (under one top-level `folder` when given) as a deterministic, deflated zip. */
export function zipProject(files: readonly ProjectFile[], folder?: string): Uint8Array {
  const entries: Zippable = {};
  for (const file of files)
    entries[folder === undefined ? file.path : `${folder}/${file.path}`] = [
      file.content,
      { mtime: ZIP_MTIME, level: 6 },
    ];
  return zipSync(entries, { mtime: ZIP_MTIME });
}
