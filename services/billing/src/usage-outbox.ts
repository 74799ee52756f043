import type { AiUsage } from "@cognomega/shared";
import { logEvent } from "@cognomega/shared";
import { recordUsageBatch, type UsageRecord } from "./usage";

/**
 * The usage events of AI calls, written in the same ledger transaction as their charges and carried
 * to KV (`recordUsageBatch`: one write per batch) by the account's alarm shortly after. An event
 * therefore exists exactly when its charge does, and KV is written once a second per busy account
 * rather than once per call. Listings see an event once it has been carried, about a second later.
 */
export const USAGE_OUTBOX_SCHEMA = `CREATE TABLE IF NOT EXISTS usage_outbox (
   seq INTEGER PRIMARY KEY AUTOINCREMENT,
   event TEXT NOT NULL,
   attempts INTEGER NOT NULL DEFAULT 0
 )`;

/** How long after a charge its usage event is carried to KV (batched with the others by then). */
export const USAGE_OUTBOX_DELAY_MS = 1_000;
/** Events carried per KV write. */
const EVENTS_PER_WRITE = 500;
/** After this many failed writes an event is carried alone; after twice as many it is dropped (logged whole). */
const ATTEMPTS_BEFORE_ALONE = 3;

/** One AI call's usage, as the ledger records it next to the charge. */
export interface ChargedUsage {
  id: string;
  at: number;
  requestId: string;
  usage: AiUsage;
  chargedMicro: number;
}

/** Queues the event of a charged call (inside the charge's transaction). */
export function queueUsage(sql: SqlStorage, account: string, charged: ChargedUsage): void {
  const record: UsageRecord = {
    id: charged.id,
    account,
    at: charged.at,
    requestId: charged.requestId,
    tokensIn: charged.usage.tokens_in,
    tokensOut: charged.usage.tokens_out,
    provider: charged.usage.provider,
    model: charged.usage.model,
    creditsMicro: charged.chargedMicro,
    source: charged.usage.source ?? "si",
    estimated: charged.usage.estimated,
  };
  if (charged.usage.characters !== undefined) record.characters = charged.usage.characters;
  if (charged.usage.audio_ms !== undefined) record.audioMs = charged.usage.audio_ms;
  sql.exec("INSERT INTO usage_outbox (event) VALUES (?)", JSON.stringify(record));
}

/** True while events wait to be carried. */
export function usagePending(sql: SqlStorage): boolean {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage_outbox").one().n > 0;
}

/**
 * Carries every queued event to KV, oldest first, and removes what was written. A failed write
 * leaves its events queued for the next alarm and throws. An event that keeps failing is carried
 * alone, so it cannot hold up the others, and in the end dropped with its whole content in the log
 * (a KV outage lasting that long is an incident either way; the charge itself stands).
 */
export async function carryUsage(sql: SqlStorage, kv: KVNamespace, account: string, ttlSeconds: number) {
  for (;;) {
    const head = sql
      .exec<{ seq: number; event: string; attempts: number }>(
        "SELECT seq, event, attempts FROM usage_outbox ORDER BY seq LIMIT ?",
        EVENTS_PER_WRITE,
      )
      .toArray();
    // Events that failed before go one at a time.
    const first = head[0];
    const rows = first && first.attempts >= ATTEMPTS_BEFORE_ALONE ? [first] : head;
    const last = rows.at(-1);
    if (!last) return;
    try {
      await recordUsageBatch(
        kv,
        account,
        rows.map((row) => JSON.parse(row.event) as UsageRecord),
        ttlSeconds,
      );
    } catch (error) {
      sql.exec("UPDATE usage_outbox SET attempts = attempts + 1 WHERE seq <= ?", last.seq);
      if (rows.length === 1 && last.attempts + 1 >= 2 * ATTEMPTS_BEFORE_ALONE) {
        logEvent("error", "usage event dropped", { event: last.event, error });
        sql.exec("DELETE FROM usage_outbox WHERE seq = ?", last.seq);
        continue;
      }
      throw error;
    }
    sql.exec("DELETE FROM usage_outbox WHERE seq <= ?", last.seq);
  }
}
