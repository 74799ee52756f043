import type { Identity, JobHistoryEntry, JobStatus, JobView } from "@cognomega/shared";
import { ServiceError } from "@cognomega/shared";

/** A job as stored in KV `job:<id>`. Times are epoch milliseconds. */
export interface JobRow {
  id: string;
  owner: Identity;
  kind: string;
  input: unknown;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  run_at: number;
  created_at: number;
  updated_at: number;
  history: JobHistoryEntry[];
  result?: unknown;
  last_error?: string;
  /** With an Idempotency-Key: the request it was created by, to tell a replay from a clash. */
  fingerprint?: string;
}

const MAX_TIME = 9_999_999_999_999;
const pad = (ms: number) => String(ms).padStart(13, "0");

// Keys: the row; per owner, newest first (inverted time); and per due time, oldest first.
const rowKey = (id: string) => `job:${id}`;
const ownerPrefix = (owner: string) => `jobs:owner:${owner}:`;
const ownerKey = (row: JobRow) => `${ownerPrefix(row.owner.sub)}${pad(MAX_TIME - row.created_at)}:${row.id}`;
export const DUE_PREFIX = "jobs:due:";
const dueKey = (runAt: number, id: string) => `${DUE_PREFIX}${pad(runAt)}:${id}`;

export function isFinished(status: JobStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

export function view(row: JobRow): JobView {
  const out: JobView = {
    id: row.id,
    kind: row.kind,
    status: row.status,
    input: row.input,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    run_at: new Date(row.run_at).toISOString(),
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    history: row.history,
  };
  if (row.result !== undefined) out.result = row.result;
  if (row.last_error !== undefined) out.last_error = row.last_error;
  return out;
}

export function transition(row: JobRow, status: JobStatus, now: number, note?: string): JobRow {
  const entry: JobHistoryEntry = { status, at: new Date(now).toISOString() };
  if (note) entry.note = note.slice(0, 500);
  // The history is bounded: a job retried many times keeps its first and latest entries.
  const history = [...row.history, entry];
  return {
    ...row,
    status,
    updated_at: now,
    history: history.length > 50 ? [...history.slice(0, 5), ...history.slice(-45)] : history,
  };
}

export async function getRow(kv: KVNamespace, id: string): Promise<JobRow | null> {
  return kv.get<JobRow>(rowKey(id), "json");
}

/**
 * Writes the row and its owner index entry. Finished jobs get a TTL (`JOBS_TTL_DAYS`) so KV prunes
 * them; a pending job also gets its due-time key.
 */
export async function saveRow(kv: KVNamespace, row: JobRow, ttlSeconds: number): Promise<void> {
  const options = isFinished(row.status) ? { expirationTtl: ttlSeconds } : {};
  await Promise.all([
    kv.put(rowKey(row.id), JSON.stringify(row), options),
    kv.put(ownerKey(row), "", { ...options, metadata: { status: row.status, kind: row.kind } }),
    row.status === "pending" ? kv.put(dueKey(row.run_at, row.id), "") : Promise.resolve(),
  ]);
}

export function deleteDue(kv: KVNamespace, runAt: number, id: string): Promise<void> {
  return kv.delete(dueKey(runAt, id));
}

/** Parses `jobs:due:<ms>:<id>`. */
export function parseDue(name: string): { runAt: number; id: string } | undefined {
  const match = /^jobs:due:(\d{13}):(.+)$/.exec(name);
  return match ? { runAt: Number(match[1]), id: match[2] as string } : undefined;
}

/** Due keys with a time ≤ `now`, oldest first, at most `limit`. */
export async function listDue(kv: KVNamespace, now: number, limit: number): Promise<{ runAt: number; id: string }[]> {
  const due: { runAt: number; id: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: DUE_PREFIX, limit: Math.min(1000, limit * 2), ...(cursor ? { cursor } : {}) });
    for (const key of page.keys) {
      const parsed = parseDue(key.name);
      if (!parsed) continue;
      if (parsed.runAt > now || due.length >= limit) return due;
      due.push(parsed);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return due;
}

function encodeCursor(kvCursor: string): string {
  return btoa(kvCursor).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(cursor: string): string {
  try {
    return atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw new ServiceError("invalid_input", "cursor is not one this API returned", {
      issues: [{ path: "cursor", message: "invalid cursor" }],
    });
  }
}

/**
 * The owner's jobs, newest first, optionally of one status. Reads rows only for the page it returns;
 * the status filter works on the index metadata, scanning at most a few pages.
 */
export async function listOwned(
  kv: KVNamespace,
  owner: string,
  status: JobStatus | undefined,
  limit: number,
  cursor: string | undefined,
): Promise<{ jobs: JobRow[]; cursor: string | null }> {
  const ids: string[] = [];
  let kvCursor = cursor === undefined ? undefined : decodeCursor(cursor);
  for (let pages = 0; pages < 5 && ids.length < limit; pages++) {
    let page: KVNamespaceListResult<{ status: JobStatus }>;
    try {
      page = await kv.list<{ status: JobStatus }>({
        prefix: ownerPrefix(owner),
        limit: limit - ids.length,
        ...(kvCursor ? { cursor: kvCursor } : {}),
      });
    } catch {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }
    for (const key of page.keys) {
      if (!status || key.metadata?.status === status) ids.push(key.name.slice(key.name.lastIndexOf(":") + 1));
    }
    kvCursor = page.list_complete ? undefined : page.cursor;
    if (!kvCursor) break;
  }
  const rows = (await Promise.all(ids.slice(0, limit).map((id) => getRow(kv, id)))).filter(
    (row): row is JobRow => row !== null,
  );
  // The index may lag the rows (KV): the row is the truth for a status filter.
  const jobs = status ? rows.filter((row) => row.status === status) : rows;
  return { jobs, cursor: kvCursor ? encodeCursor(kvCursor) : null };
}
