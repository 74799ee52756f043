import { type Zippable, zipSync } from "fflate";
import type { ProjectFile } from "./render";

/**
 * Every entry's modification time: 2026-01-01 00:00:00 as the zip's DOS date and time. fflate writes
 * the Date's local fields, so it is built from local fields at each call: the same on every machine
 * and in every time zone, and the same files give the same archive bytes and SHA-256.
 */
export function zipMtime(): Date {
  return new Date(2026, 0, 1, 0, 0, 0);
}

/** The files (under one top-level `folder` when given) as a deterministic, deflated zip. */
export function zipProject(files: readonly ProjectFile[], folder?: string): Uint8Array {
  const entries: Zippable = {};
  const mtime = zipMtime();
  for (const file of files)
    entries[folder === undefined ? file.path : `${folder}/${file.path}`] = [file.content, { mtime, level: 6 }];
  return zipSync(entries, { mtime });
}
