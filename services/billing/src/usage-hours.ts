import { type HourUsageEvent, type HourUsagePage, ServiceError, type UsageEvent } from "@cognomega/shared";

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;
/** The prefix of every hour-index key. */
export const HOUR_INDEX_PREFIX = "uhour:";

/** Keys read per KV list call. */
const KEYS_PER_LIST = 1000;
/** KV list calls one page may make: each is a subrequest. */
const LISTS_PER_PAGE = 4;
/** Batch values one page may read (one `get` each): subrequests again. */
const GETS_PER_PAGE = 50;
/** A page stops taking keys once it holds this many events (RPC answers stay a few MB at most). */
export const EVENTS_PER_HOUR_PAGE = 5_000;

/** `YYYYMMDDHH` of the UTC hour `at` falls in. */
export function hourBucket(at: number): string {
  return new Date(Math.floor(at / HOUR_MS) * HOUR_MS).toISOString().slice(0, 13).replace(/[-T]/g, "");
}

function hourPrefix(hourStart: number): string {
  return `${HOUR_INDEX_PREFIX}${hourBucket(hourStart)}:`;
}

/**
 * `uhour:<YYYYMMDDHH>:<length of account>:<account>:<13-digit ms>:<id>`. Accounts and ids may both
 * hold colons, so the account is length-prefixed: the name parses back to its account exactly.
 * At most 6+10+1+3+1+289+1+13+1+160 = 485 bytes, inside KV's 512.
 */
export function hourKeyFor(account: string, at: number, id: string): string {
  return `${hourPrefix(at)}${account.length}:${account}:${String(at).padStart(13, "0")}:${id}`;
}

/** The account a hour-index key belongs to (after its hour prefix), or null for a foreign key. */
function accountOf(name: string, prefixLength: number): string | null {
  const colon = name.indexOf(":", prefixLength);
  if (colon < 0 || colon - prefixLength > 3) return null;
  const length = Number(name.slice(prefixLength, colon));
  if (!Number.isSafeInteger(length) || length <= 0) return null;
  const account = name.slice(colon + 1, colon + 1 + length);
  return account.length === length && name[colon + 1 + length] === ":" ? account : null;
}

/**
 * Where a page stopped: KV's cursor of the list page it was reading (null for the first) and the last
 * key it returned from that page. Resuming lists the same page again and skips up to that key by
 * name, so keys written meanwhile cannot shift it.
 */
interface HourCursor {
  hour: number;
  kv: string | null;
  key: string | null;
}

function encodeCursor(cursor: HourCursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function badCursor(): ServiceError {
  return new ServiceError("invalid_input", "cursor is not one this API returned for this hour", {
    issues: [{ path: "cursor", message: "invalid cursor" }],
  });
}

function decodeCursor(raw: string, hour: number): HourCursor {
  let parsed: Partial<HourCursor>;
  try {
    parsed = JSON.parse(atob(raw.replaceAll("-", "+").replaceAll("_", "/"))) as Partial<HourCursor>;
  } catch {
    throw badCursor();
  }
  if (
    parsed.hour === hour &&
    (parsed.kv === null || typeof parsed.kv === "string") &&
    (parsed.key === null || typeof parsed.key === "string")
  )
    return { hour, kv: parsed.kv, key: parsed.key };
  throw badCursor();
}

/** The start (epoch ms) of the hour `hour` names: an ISO time or epoch ms on the hour. */
export function parseHour(hour: unknown): number {
  const at = typeof hour === "number" ? hour : typeof hour === "string" ? Date.parse(hour) : Number.NaN;
  if (!Number.isSafeInteger(at) || at < 0 || at % HOUR_MS !== 0)
    throw new ServiceError("invalid_input", "hour is the start of a UTC hour (ISO time or epoch ms)", {
      issues: [{ path: "hour", message: "not the start of an hour" }],
    });
  return at;
}

/** The events one hour-index key holds: in its metadata (one event), or in its value (a batch). */
async function eventsOf(kv: KVNamespace, key: KVNamespaceListKey<unknown>): Promise<UsageEvent[]> {
  const meta = key.metadata as { batch?: unknown } | undefined;
  if (!meta) return [];
  if (typeof meta.batch !== "number") return [meta as UsageEvent];
  const stored = await kv.get<UsageEvent[]>(key.name, "json");
  return Array.isArray(stored) ? stored : [];
}

/**
 * One page of the usage events of the UTC hour starting at `hourStart`, for every account, read by
 * the hour's own keys (a prefix list), never by scanning the accounts' keys. A page makes at most
 * LISTS_PER_PAGE list calls and GETS_PER_PAGE batch reads, and stops taking keys once it holds
 * EVENTS_PER_HOUR_PAGE events; keys are returned whole. `cursor` is null after the hour's last key.
 */
export async function usageForHour(
  kv: KVNamespace,
  hourStart: number,
  rawCursor: string | null | undefined,
): Promise<HourUsagePage> {
  const prefix = hourPrefix(hourStart);
  let cursor: HourCursor = rawCursor ? decodeCursor(rawCursor, hourStart) : { hour: hourStart, kv: null, key: null };
  const events: HourUsageEvent[] = [];
  let lists = 0;
  let gets = 0;
  while (lists < LISTS_PER_PAGE) {
    let page: KVNamespaceListResult<unknown>;
    try {
      page = await kv.list({ prefix, limit: KEYS_PER_LIST, ...(cursor.kv ? { cursor: cursor.kv } : {}) });
    } catch {
      throw badCursor();
    }
    lists += 1;
    for (const key of page.keys) {
      if (cursor.key !== null && key.name <= cursor.key) continue;
      const isBatch = typeof (key.metadata as { batch?: unknown } | undefined)?.batch === "number";
      if (events.length >= EVENTS_PER_HOUR_PAGE || (isBatch && gets >= GETS_PER_PAGE))
        return { events, cursor: encodeCursor(cursor), kv_reads: lists + gets };
      const account = accountOf(key.name, prefix.length);
      if (account === null) continue;
      if (isBatch) gets += 1;
      for (const event of await eventsOf(kv, key)) {
        // A batch is keyed by its first event's hour; only this hour's events are this hour's.
        const at = Date.parse(event.at);
        if (at >= hourStart && at < hourStart + HOUR_MS) events.push({ ...event, account });
      }
      cursor = { ...cursor, key: key.name };
    }
    if (page.list_complete) return { events, cursor: null, kv_reads: lists + gets };
    cursor = { hour: hourStart, kv: page.cursor, key: null };
  }
  return { events, cursor: encodeCursor(cursor), kv_reads: lists + gets };
}
