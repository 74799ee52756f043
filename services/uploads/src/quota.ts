import { DurableObject } from "cloudflare:workers";

/** A tenant's upload limits: bytes over all its uploads, and how many it may keep. */
export interface UploadLimits {
  bytes: number;
  files: number;
}

/** Where a tenant stands: what its kept uploads and in-flight reservations take together. */
export interface QuotaUsage {
  bytes: number;
  files: number;
}

/** A reservation refused for a quota: which one, its limit, what is used and what was asked. */
export type QuotaRefusal = { quota: "upload_bytes" | "upload_files"; limit: number; used: number; requested: number };

/**
 * An upload not committed or released within this long is presumed dead (its worker died mid-body)
 * and stops counting. Longer than any upload can stream.
 */
export const RESERVATION_TTL_MS = 60 * 60_000;

/**
 * One tenant's upload quota, in a SQLite-backed Durable Object: kept uploads and in-flight
 * reservations, counted together inside one `transactionSync`, so concurrent uploads can never
 * pass the quota between them. An upload reserves its declared size before a byte reaches R2,
 * commits once its object exists, and releases on failure; deleting an upload frees its share.
 */
export class UploadQuota extends DurableObject<UploadsEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: UploadsEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, bytes INTEGER NOT NULL)");
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, bytes INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    );
  }

  private usageNow(now: number): QuotaUsage {
    this.sql.exec("DELETE FROM reservations WHERE expires_at <= ?", now);
    return this.sql
      .exec<{ bytes: number; files: number }>(
        `SELECT (SELECT COALESCE(SUM(bytes), 0) FROM objects) + (SELECT COALESCE(SUM(bytes), 0) FROM reservations) AS bytes,
                (SELECT COUNT(*) FROM objects) + (SELECT COUNT(*) FROM reservations) AS files`,
      )
      .one();
  }

  /**
   * Reserves room for one upload of `bytes`, or says which quota it would pass (nothing changes
   * then). The refusal is returned, not thrown across the object's edge.
   */
  reserve(
    id: string,
    bytes: number,
    limits: UploadLimits,
    now: number,
  ): { ok: true; usage: QuotaUsage } | ({ ok: false } & QuotaRefusal) {
    return this.ctx.storage.transactionSync(() => {
      const usage = this.usageNow(now);
      if (usage.files + 1 > limits.files)
        return {
          ok: false as const,
          quota: "upload_files" as const,
          limit: limits.files,
          used: usage.files,
          requested: 1,
        };
      if (usage.bytes + bytes > limits.bytes)
        return {
          ok: false as const,
          quota: "upload_bytes" as const,
          limit: limits.bytes,
          used: usage.bytes,
          requested: bytes,
        };
      this.sql.exec(
        "INSERT INTO reservations (id, bytes, expires_at) VALUES (?, ?, ?)",
        id,
        bytes,
        now + RESERVATION_TTL_MS,
      );
      return { ok: true as const, usage: { bytes: usage.bytes + bytes, files: usage.files + 1 } };
    });
  }

  /** Turns a reservation into a kept upload under its R2 key. */
  commit(id: string, key: string, bytes: number): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM reservations WHERE id = ?", id);
      this.sql.exec("INSERT OR REPLACE INTO objects (key, bytes) VALUES (?, ?)", key, bytes);
    });
  }

  /** Drops a reservation whose upload failed. Releasing twice is a no-op. */
  release(id: string): void {
    this.sql.exec("DELETE FROM reservations WHERE id = ?", id);
  }

  /** Frees a deleted upload's share. Removing an unknown key is a no-op. */
  remove(key: string): void {
    this.sql.exec("DELETE FROM objects WHERE key = ?", key);
  }

  /** What the tenant's uploads and reservations take now. */
  usage(now: number): QuotaUsage {
    return this.ctx.storage.transactionSync(() => this.usageNow(now));
  }
}
