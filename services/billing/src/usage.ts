import { microToCredits, ServiceError, type UsageEvent } from "@cognomega/shared";
import { HOUR_MS, hourKeyFor } from "./usage-hours";

const DAY_MS = 86_400_000;
/** The widest window one listing may span. */
export const MAX_USAGE_RANGE_DAYS = 31;

/** A usage event before it is stamped, amounts in micro-credits. */
export interface UsageRecord {
  id: string;
  account: string;
  at: number;
  requestId: string;
  tokensIn: number;
  tokensOut: number;
  provider: string;
  model: string;
  creditsMicro: number;
  source: UsageEvent["source"];
  estimated?: boolean;
  characters?: number;
  audioMs?: number;
}

function dayKey(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll("-", "");
}

// Keys sort by account, then UTC day, then time: a day's events list in order with one prefix.
function prefix(account: string, day: number): string {
  return `usage:${account}:${dayKey(day)}:`;
}

function eventOf(record: UsageRecord): UsageEvent {
  const event: UsageEvent = {
    id: record.id,
    at: new Date(record.at).toISOString(),
    request_id: record.requestId,
    tokens_in: record.tokensIn,
    tokens_out: record.tokensOut,
    provider: record.provider,
    model: record.model,
    credits: microToCredits(record.creditsMicro),
    source: record.source,
  };
  if (record.estimated) event.estimated = true;
  if (record.characters !== undefined) event.characters = record.characters;
  if (record.audioMs !== undefined) event.audio_seconds = record.audioMs / 1000;
  return event;
}

function keyFor(account: string, at: number, id: string): string {
  return `${prefix(account, Math.floor(at / DAY_MS))}${String(at).padStart(13, "0")}:${id}`;
}

/** What a batch key's metadata says: how many events its value holds, and their time span. */
export interface UsageBatchMeta {
  batch: number;
  first: number;
  last: number;
}

/**
 * Stores one event under `usage:<account>:<YYYYMMDD>:<ms>:<id>` with a TTL, and beside it under its
 * hour's index key (`hourKeyFor`), which the rollup reads. The whole event rides in each key's
 * metadata (well under KV's 1024 bytes), so listing needs no per-event reads. The index is written
 * first: a failure between the two leaves an event the rollup counts but the listing does not show
 * yet (the caller retries), never one the listing shows and the rollup skips.
 */
export async function recordUsage(kv: KVNamespace, record: UsageRecord, ttlSeconds: number): Promise<UsageEvent> {
  const event = eventOf(record);
  const options = { expirationTtl: ttlSeconds, metadata: event };
  await kv.put(hourKeyFor(record.account, record.at, record.id), "", options);
  await kv.put(keyFor(record.account, record.at, record.id), "", options);
  return event;
}

/** Puts events (sorted by time, all in one bucket) under one key: metadata for one, a batch value for more. */
async function putGroup(kv: KVNamespace, key: string, group: UsageRecord[], ttlSeconds: number): Promise<void> {
  const first = group[0] as UsageRecord;
  if (group.length === 1) {
    await kv.put(key, "", { expirationTtl: ttlSeconds, metadata: eventOf(first) });
    return;
  }
  const metadata: UsageBatchMeta = { batch: group.length, first: first.at, last: (group.at(-1) as UsageRecord).at };
  await kv.put(key, JSON.stringify(group.map(eventOf)), { expirationTtl: ttlSeconds, metadata });
}

function groupBy(records: UsageRecord[], bucketMs: number): UsageRecord[][] {
  const groups = new Map<number, UsageRecord[]>();
  for (const record of records) {
    const bucket = Math.floor(record.at / bucketMs);
    const group = groups.get(bucket);
    if (group) group.push(record);
    else groups.set(bucket, [record]);
  }
  return [...groups.values()];
}

/**
 * Stores the events of one settlement (an SI instance's batch of calls, an outbox carry) with one KV
 * write per UTC day they fall on, rather than one per call: under the same time-bucketed keys
 * (`usage:<account>:<YYYYMMDD>:<ms of the first>:<id of the first>`), the events as a JSON array in
 * the value and their count and time span in the metadata; a single event as `recordUsage` stores
 * it. The hour index gets one write per UTC hour the same way, written first (see `recordUsage`).
 * A retry rewrites the same keys with the same content, so carrying a batch twice counts it once.
 */
export async function recordUsageBatch(
  kv: KVNamespace,
  account: string,
  records: UsageRecord[],
  ttlSeconds: number,
): Promise<void> {
  const sorted = [...records].sort((a, b) => a.at - b.at);
  for (const group of groupBy(sorted, HOUR_MS)) {
    const first = group[0] as UsageRecord;
    await putGroup(kv, hourKeyFor(account, first.at, first.id), group, ttlSeconds);
  }
  for (const group of groupBy(sorted, DAY_MS)) {
    const first = group[0] as UsageRecord;
    await putGroup(kv, keyFor(account, first.at, first.id), group, ttlSeconds);
  }
}

/** The newest event time a key holds, from its metadata alone (for pruning). */
export function newestEventAt(metadata: unknown): number {
  if (typeof metadata !== "object" || metadata === null) return Number.NaN;
  const meta = metadata as Partial<UsageEvent & UsageBatchMeta>;
  if (typeof meta.last === "number") return meta.last;
  return typeof meta.at === "string" ? Date.parse(meta.at) : Number.NaN;
}

/**
 * Where a listing stopped: the day, KV's cursor for the page it was reading, and the last key it
 * read from with how many of that key's events (in the window) it returned. Resuming skips by key
 * name, not by position, so keys written meanwhile cannot shift it.
 */
interface Cursor {
  day: number;
  kv: string | null;
  key: string | null;
  event: number;
}

/** Keys read per KV list call. */
const KEYS_PER_PAGE = 100;

/**
 * KV list calls (pages of KEYS_PER_PAGE keys) one listing request may make: each is a subrequest, and
 * a busy day's keys before a narrow window could otherwise take hundreds. When the cap is hit before
 * the window is exhausted the page returns what it found (possibly nothing) and a cursor.
 */
export const MAX_PAGES_PER_LISTING = 10;

function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(atob(raw.replaceAll("-", "+").replaceAll("_", "/"))) as Partial<Cursor>;
    const event = parsed.event ?? 0;
    if (
      Number.isInteger(parsed.day) &&
      (parsed.kv === null || typeof parsed.kv === "string") &&
      (parsed.key === undefined || parsed.key === null || typeof parsed.key === "string") &&
      Number.isSafeInteger(event) &&
      event >= 0
    )
      return { day: parsed.day as number, kv: parsed.kv, key: parsed.key ?? null, event };
  } catch {
    // fall through
  }
  throw new ServiceError("invalid_input", "cursor is not one this API returned", {
    issues: [{ path: "cursor", message: "invalid cursor" }],
  });
}

/** The events one key holds: in its metadata (one event), or in its value (a batch). */
async function eventsOf(kv: KVNamespace, key: KVNamespaceListKey<unknown>): Promise<UsageEvent[]> {
  const meta = key.metadata as Partial<UsageEvent & UsageBatchMeta> | undefined;
  if (!meta) return [];
  if (typeof meta.batch !== "number") return [meta as UsageEvent];
  const stored = await kv.get<UsageEvent[]>(key.name, "json");
  return Array.isArray(stored) ? stored : [];
}

/** The time of a key's first event, from its name (`<prefix><13-digit ms>:<id>`). */
function keyTime(name: string, prefixLength: number): number {
  return Number(name.slice(prefixLength, prefixLength + 13));
}

/** The newest event time a key may hold: an event's own, a batch's last (both from metadata). */
function keyLast(key: KVNamespaceListKey<unknown>): number {
  return newestEventAt(key.metadata);
}

/**
 * Lists an account's events between `from` and `to` (inclusive, epoch ms), walking one day-prefix
 * at a time, keys in time order and each batch's events in time order. `cursor` resumes where the
 * previous page stopped, inside a batch if need be. One request reads at most MAX_PAGES_PER_LISTING
 * pages of keys and stops at the first key past `to`; a page may come back short (even empty) with a
 * cursor when the cap was hit first.
 */
export async function listUsage(
  kv: KVNamespace,
  account: string,
  from: number,
  to: number,
  limit: number,
  rawCursor: string | undefined,
): Promise<{ events: UsageEvent[]; cursor: string | null }> {
  if (from > to)
    throw new ServiceError("invalid_input", "from must not be after to", {
      issues: [{ path: "from", message: "after to" }],
    });
  if (to - from > MAX_USAGE_RANGE_DAYS * DAY_MS) {
    throw new ServiceError("invalid_input", `a listing spans at most ${MAX_USAGE_RANGE_DAYS} days`, {
      issues: [{ path: "from", message: "range too wide" }],
    });
  }
  const firstDay = Math.floor(from / DAY_MS);
  const lastDay = Math.floor(to / DAY_MS);
  const finished: Cursor = { day: lastDay + 1, kv: null, key: null, event: 0 };
  let cursor: Cursor = rawCursor ? decodeCursor(rawCursor) : { day: firstDay, kv: null, key: null, event: 0 };
  // A cursor only ever points inside the window it was made for.
  if (cursor.day < firstDay || cursor.day > lastDay + 1) {
    throw new ServiceError("invalid_input", "cursor is not one this API returned for this window", {
      issues: [{ path: "cursor", message: "outside the window" }],
    });
  }
  const events: UsageEvent[] = [];
  let pages = 0;
  while (cursor.day <= lastDay && events.length < limit && pages < MAX_PAGES_PER_LISTING) {
    const dayPrefix = prefix(account, cursor.day);
    let page: KVNamespaceListResult<unknown>;
    try {
      page = await kv.list({
        prefix: dayPrefix,
        limit: KEYS_PER_PAGE,
        ...(cursor.kv ? { cursor: cursor.kv } : {}),
      });
    } catch {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }
    pages += 1;
    let stoppedAt: Cursor | undefined;
    for (const key of page.keys) {
      // Keys list in name order: everything up to the cursor's key was returned before.
      if (cursor.key !== null && key.name < cursor.key) continue;
      // A key is named for its first event, so from here on every event is past the window.
      if (keyTime(key.name, dayPrefix.length) > to) {
        stoppedAt = finished;
        break;
      }
      // Entirely before the window: known from the metadata, without reading a batch's value.
      if (keyLast(key) < from) continue;
      const held = (await eventsOf(kv, key)).filter((event) => {
        const at = Date.parse(event.at);
        return at >= from && at <= to;
      });
      const start = key.name === cursor.key ? cursor.event : 0;
      const room = limit - events.length;
      const taken = held.slice(start, start + room);
      events.push(...taken);
      if (events.length >= limit) {
        stoppedAt = { ...cursor, key: key.name, event: start + taken.length };
        break;
      }
    }
    if (stoppedAt) {
      cursor = stoppedAt;
      break;
    }
    cursor = page.list_complete
      ? { day: cursor.day + 1, kv: null, key: null, event: 0 }
      : { day: cursor.day, kv: page.cursor, key: null, event: 0 };
  }
  return { events, cursor: cursor.day <= lastDay ? encodeCursor(cursor) : null };
}
