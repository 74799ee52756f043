import type { Identity, JobHistoryEntry, JobStatus, JobSummary, JobView } from "@cognomega/shared";
import { ServiceError, sha256Hex } from "@cognomega/shared";
import type { JobSettings } from "./config";
import { jobQueue } from "./queue";

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
  /**
   * Random, made with the row: what the job's billed calls are keyed on, so a job re-created under
   * the same Idempotency-Key after this row was pruned is a new, billed operation. Rows written
   * before it existed have none.
   */
  nonce?: string;
}

/** The owner index entry's metadata: the list view, so a listing reads no rows. */
interface IndexMeta {
  status: JobStatus;
  kind: string;
  attempts?: number;
  max_attempts?: number;
  run_at?: number;
  created_at?: number;
  updated_at?: number;
  last_error?: string;
}

/** How much of `last_error` the list view carries (KV metadata holds at most 1024 bytes). */
export const SUMMARY_ERROR_CHARS = 200;

const MAX_TIME = 9_999_999_999_999;
const pad = (ms: number) => String(ms).padStart(13, "0");

// Keys: the row, and per owner, newest first (inverted time).
const rowKey = (id: string) => `job:${id}`;
const ownerPrefix = (owner: string) => `jobs:owner:${owner}:`;
const ownerKey = (row: JobRow) => `${ownerPrefix(row.owner.sub)}${pad(MAX_TIME - row.created_at)}:${row.id}`;
/** The due index (`jobs:due:<ms>:<id>`) of rows written before the queue; passes and cleanup move it there. */
export const DUE_PREFIX = "jobs:due:";

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

const iso = (ms: number) => new Date(ms).toISOString();

function indexMeta(row: JobRow): IndexMeta {
  const meta: IndexMeta = {
    status: row.status,
    kind: row.kind,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    run_at: row.run_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
  if (row.last_error !== undefined) {
    const withError = { ...meta, last_error: row.last_error.slice(0, SUMMARY_ERROR_CHARS) };
    // Escapes and multi-byte characters can outgrow KV's metadata limit: then the summary has no error.
    if (new TextEncoder().encode(JSON.stringify(withError)).length <= 1000) return withError;
  }
  return meta;
}

/** The list view of a job: no input, result or history (those are at `GET /api/jobs/:id`). */
export function summary(row: JobRow): JobSummary {
  return summaryOf(row.id, indexMeta(row)) as JobSummary;
}

function summaryOf(id: string, meta: IndexMeta): JobSummary | undefined {
  if (meta.created_at === undefined || meta.updated_at === undefined || meta.run_at === undefined) return undefined;
  const out: JobSummary = {
    id,
    kind: meta.kind,
    status: meta.status,
    attempts: meta.attempts ?? 0,
    max_attempts: meta.max_attempts ?? 0,
    run_at: iso(meta.run_at),
    created_at: iso(meta.created_at),
    updated_at: iso(meta.updated_at),
  };
  if (meta.last_error !== undefined) out.last_error = meta.last_error;
  return out;
}

/** When an unfinished job is dropped, in epoch ms: `JOBS_PENDING_TTL_DAYS` past its `run_at`. */
export function pendingExpiry(settings: JobSettings, row: Pick<JobRow, "run_at">): number {
  return row.run_at + settings.pendingTtlMs;
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
 * Writes the row and its owner index entry (whose metadata is the list view). KV prunes both: a
 * finished job `JOBS_TTL_DAYS` after it finished, an unfinished one `JOBS_PENDING_TTL_DAYS` past
 * its `run_at` (the queue drops its entry then too).
 */
export async function saveRow(kv: KVNamespace, row: JobRow, settings: JobSettings): Promise<void> {
  const options: KVNamespacePutOptions = isFinished(row.status)
    ? { expirationTtl: settings.ttlSeconds }
    : // KV refuses an expiration less than 60 s ahead; an overdue row of old keeps a little longer.
      { expiration: Math.floor(Math.max(pendingExpiry(settings, row), Date.now() + 120_000) / 1000) };
  await Promise.all([
    kv.put(rowKey(row.id), JSON.stringify(row), options),
    kv.put(ownerKey(row), "", { ...options, metadata: indexMeta(row) }),
  ]);
}

/**
 * Moves one page (at most `limit` keys, from `cursor`) of the old KV due index into the queue: a key
 * whose row is still pending at that time queues the job (outside the cap, with a fresh
 * `JOBS_PENDING_TTL_DAYS`), and every key is deleted. Until this has run, jobs created before the
 * queue existed would never be offered to a pass.
 */
export async function migrateDueIndex(
  env: JobsEnv,
  settings: JobSettings,
  now: number,
  limit: number,
  cursor?: string,
): Promise<{ scanned: number; deleted: number; cursor: string | undefined }> {
  const kv = env.KV_BILLING;
  const page = await kv.list({ prefix: DUE_PREFIX, limit, ...(cursor ? { cursor } : {}) });
  for (const key of page.keys) {
    const due = parseDue(key.name);
    const row = due ? await getRow(kv, due.id) : null;
    if (row?.status === "pending" && row.run_at === due?.runAt) {
      await jobQueue(env).restore(
        {
          id: row.id,
          tenant: row.owner.sub,
          runAt: row.run_at,
          expiresAt: Math.max(pendingExpiry(settings, row), now + settings.pendingTtlMs),
          fingerprint: row.fingerprint === undefined ? null : await sha256Hex(row.fingerprint),
        },
        now,
      );
    }
    await kv.delete(key.name);
  }
  return {
    scanned: page.keys.length,
    deleted: page.keys.length,
    cursor: page.list_complete ? undefined : page.cursor,
  };
}

/** Parses `jobs:due:<ms>:<id>`. */
export function parseDue(name: string): { runAt: number; id: string } | undefined {
  const match = /^jobs:due:(\d{13}):(.+)$/.exec(name);
  return match ? { runAt: Number(match[1]), id: match[2] as string } : undefined;
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
 * The owner's jobs, newest first, optionally of one status, as list views taken from the index
 * metadata: no row is read, so a page costs no more memory than its summaries however large the
 * jobs' input and results are. Scans at most a few index pages.
 */
export async function listOwned(
  kv: KVNamespace,
  owner: string,
  status: JobStatus | undefined,
  limit: number,
  cursor: string | undefined,
): Promise<{ jobs: JobSummary[]; cursor: string | null }> {
  const found: { id: string; meta: IndexMeta | null }[] = [];
  let kvCursor = cursor === undefined ? undefined : decodeCursor(cursor);
  for (let pages = 0; pages < 5 && found.length < limit; pages++) {
    let page: KVNamespaceListResult<IndexMeta>;
    try {
      page = await kv.list<IndexMeta>({
        prefix: ownerPrefix(owner),
        limit: limit - found.length,
        ...(kvCursor ? { cursor: kvCursor } : {}),
      });
    } catch {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }
    for (const key of page.keys) {
      if (!status || key.metadata?.status === status)
        found.push({ id: key.name.slice(key.name.lastIndexOf(":") + 1), meta: key.metadata ?? null });
    }
    kvCursor = page.list_complete ? undefined : page.cursor;
    if (!kvCursor) break;
  }
  const jobs: JobSummary[] = [];
  for (const { id, meta } of found.slice(0, limit)) {
    const fromIndex = meta ? summaryOf(id, meta) : undefined;
    if (fromIndex) {
      jobs.push(fromIndex);
      continue;
    }
    // An index entry written before it carried the list view: read its row, one at a time so at most
    // one large row is held.
    const row = await getRow(kv, id);
    if (row && (!status || row.status === status)) jobs.push(summary(row));
  }
  return { jobs, cursor: kvCursor ? encodeCursor(kvCursor) : null };
}
