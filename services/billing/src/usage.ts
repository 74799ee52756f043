import { microToCredits, ServiceError, type UsageEvent } from "@cognomega/shared";

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
}

function dayKey(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll("-", "");
}

// Keys sort by account, then UTC day, then time: a day's events list in order with one prefix.
function prefix(account: string, day: number): string {
  return `usage:${account}:${dayKey(day)}:`;
}

/**
 * Stores one event under `usage:<account>:<YYYYMMDD>:<ms>:<id>` with a TTL. The whole event rides
 * in the key's metadata (well under KV's 1024 bytes), so listing needs no per-event reads.
 */
export async function recordUsage(kv: KVNamespace, record: UsageRecord, ttlSeconds: number): Promise<UsageEvent> {
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
  const key = `${prefix(record.account, Math.floor(record.at / DAY_MS))}${String(record.at).padStart(13, "0")}:${record.id}`;
  await kv.put(key, "", { expirationTtl: ttlSeconds, metadata: event });
  return event;
}

interface Cursor {
  day: number;
  kv: string | null;
}

function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(atob(raw.replaceAll("-", "+").replaceAll("_", "/"))) as Cursor;
    if (Number.isInteger(parsed.day) && (parsed.kv === null || typeof parsed.kv === "string")) return parsed;
  } catch {
    // fall through
  }
  throw new ServiceError("invalid_input", "cursor is not one this API returned", {
    issues: [{ path: "cursor", message: "invalid cursor" }],
  });
}

/**
 * Lists an account's events between `from` and `to` (inclusive, epoch ms), oldest first,
 * walking one day-prefix at a time. `cursor` resumes where the previous page stopped.
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
  let cursor: Cursor = rawCursor ? decodeCursor(rawCursor) : { day: firstDay, kv: null };
  // A cursor only ever points inside the window it was made for.
  if (cursor.day < firstDay || cursor.day > lastDay + 1) {
    throw new ServiceError("invalid_input", "cursor is not one this API returned for this window", {
      issues: [{ path: "cursor", message: "outside the window" }],
    });
  }
  const events: UsageEvent[] = [];
  while (cursor.day <= lastDay && events.length < limit) {
    let page: KVNamespaceListResult<UsageEvent>;
    try {
      page = await kv.list<UsageEvent>({
        prefix: prefix(account, cursor.day),
        limit: limit - events.length,
        ...(cursor.kv ? { cursor: cursor.kv } : {}),
      });
    } catch {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }

    for (const key of page.keys) {
      const at = key.metadata ? Date.parse(key.metadata.at) : Number.NaN;
      if (key.metadata && at >= from && at <= to) events.push(key.metadata);
    }
    cursor = page.list_complete ? { day: cursor.day + 1, kv: null } : { day: cursor.day, kv: page.cursor };
  }
  return { events, cursor: cursor.day <= lastDay ? encodeCursor(cursor) : null };
}
