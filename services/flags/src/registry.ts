import { DurableObject } from "cloudflare:workers";
import {
  type CheckedFlagDefinition,
  checkFlagOverride,
  type ErrorCode,
  type ErrorDetails,
  FLAG_LIMITS,
  type FlagChangeAction,
  type FlagDefinition,
  type FlagHistoryEntry,
  type FlagHistoryPage,
  type FlagSet,
  type FlagSetEntry,
  flagEtag,
  gateFlagEntry,
  isGateFlag,
  isServiceError,
  logEvent,
} from "@cognomega/shared";
import { type IfMatch, ifMatchAdmits } from "./if-match";

/** The KV key the whole published FlagSet lives under. */
export const FLAG_SET_KEY = "flagset";
/** History entries kept per flag; older ones are dropped as new ones arrive. */
export const HISTORY_PER_FLAG = 1000;
/** The most bytes the published set may take as JSON: every isolate holds one, and loads it over RPC. */
export const FLAG_SET_MAX_BYTES = 1024 * 1024;

/** Who made a change, and under which request. */
export interface FlagActor {
  by: string;
  requestId: string;
}

/**
 * The registry's methods as its callers see them. The stub's inferred type recurses through the
 * JSON values a flag holds until tsc gives up, so callers use this plain interface instead.
 */
export interface FlagRegistryRpc {
  snapshot(): Promise<FlagSet>;
  read(key: string): Promise<FlagSetEntry | null>;
  put(
    key: string,
    definition: CheckedFlagDefinition,
    ifMatch: IfMatch | null,
    actor: FlagActor,
  ): Promise<RegistryOutcome<{ entry: FlagSetEntry; created: boolean }>>;
  remove(key: string, ifMatch: IfMatch | null, actor: FlagActor): Promise<RegistryOutcome<{ version: string }>>;
  putOverride(
    key: string,
    account: string,
    body: unknown,
    actor: FlagActor,
  ): Promise<RegistryOutcome<{ entry: FlagSetEntry }>>;
  removeOverride(key: string, account: string, actor: FlagActor): Promise<RegistryOutcome<{ entry: FlagSetEntry }>>;
  history(key: string, limit: number, before: number | null): Promise<FlagHistoryPage>;
}

/** A write's outcome. Refusals are returned, not thrown, so their code crosses the object's edge intact. */
export type RegistryOutcome<T> =
  | ({ ok: true } & T)
  | { ok: false; code: ErrorCode; message: string; details?: ErrorDetails };

type Refusal = Extract<RegistryOutcome<never>, { ok: false }>;

function refuse(code: ErrorCode, message: string, details?: ErrorDetails): Refusal {
  return details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };
}

interface FlagRow extends Record<string, SqlStorageValue> {
  key: string;
  entry: string;
}

const encoder = new TextEncoder();

/**
 * The flag registry: one SQLite Durable Object holding every definition, its overrides and its
 * history. Each write runs inside one `transactionSync` (read the current version, check If-Match,
 * write, record history, bump the version), so two writers holding the same ETag can never both
 * win. After each write the whole set is published to `KV_FLAGS` for isolates to read.
 */
export class FlagRegistry extends DurableObject<FlagsEnv> {
  private readonly sql: SqlStorage;
  private publishing: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: FlagsEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS flags (key TEXT PRIMARY KEY, entry TEXT NOT NULL)");
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,
        action TEXT NOT NULL, account TEXT, at TEXT NOT NULL, by TEXT NOT NULL, request_id TEXT NOT NULL,
        before TEXT, after TEXT, version TEXT NOT NULL)`,
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS history_by_key ON history (key, seq)");
  }

  private version(): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE name = 'version'").toArray()[0]?.value ?? 0;
  }

  private entry(key: string): FlagSetEntry | null {
    const row = this.sql.exec<FlagRow>("SELECT key, entry FROM flags WHERE key = ?", key).toArray()[0];
    return row === undefined ? null : (JSON.parse(row.entry) as FlagSetEntry);
  }

  private set(): FlagSet {
    const flags: Record<string, FlagSetEntry> = {};
    for (const row of this.sql.exec<FlagRow>("SELECT key, entry FROM flags ORDER BY key")) {
      flags[row.key] = JSON.parse(row.entry) as FlagSetEntry;
    }
    return { version: String(this.version()), flags };
  }

  /** Every flag and the registry's version, as published. */
  snapshot(): FlagSet {
    return this.set();
  }

  /** One flag, or null. */
  read(key: string): FlagSetEntry | null {
    return this.entry(key);
  }

  /**
   * Writes `after` for `key` (null deletes it) as one change: bumps the version, stamps the
   * definition, records history, and checks the set stays within its bounds. Runs inside the
   * caller's transaction.
   */
  private commit(
    key: string,
    before: FlagSetEntry | null,
    after: FlagSetEntry | null,
    action: FlagChangeAction,
    actor: FlagActor,
    account?: string,
  ): { version: string; entry: FlagSetEntry | null } | Refusal {
    const version = String(this.version() + 1);
    const at = new Date().toISOString();
    if (after !== null) {
      after.definition = { ...after.definition, version, updated_at: at, updated_by: actor.by };
      const serialized = JSON.stringify(after);
      const others = this.sql
        .exec<{ bytes: number; count: number }>(
          "SELECT COALESCE(SUM(LENGTH(CAST(entry AS BLOB))), 0) AS bytes, COUNT(*) AS count FROM flags WHERE key <> ?",
          key,
        )
        .one();
      if (before === null && others.count >= FLAG_LIMITS.flags) {
        return refuse("quota_exceeded", `at most ${FLAG_LIMITS.flags} flags`, {
          quota: "flags",
          limit: FLAG_LIMITS.flags,
          used: others.count,
          requested: 1,
        });
      }
      const bytes = others.bytes + encoder.encode(serialized).length;
      if (bytes > FLAG_SET_MAX_BYTES) {
        return refuse("quota_exceeded", `the flag set is at most ${FLAG_SET_MAX_BYTES} bytes`, {
          quota: "flag_set_bytes",
          limit: FLAG_SET_MAX_BYTES,
          used: others.bytes,
          requested: bytes - others.bytes,
        });
      }
      this.sql.exec("INSERT OR REPLACE INTO flags (key, entry) VALUES (?, ?)", key, serialized);
    } else {
      this.sql.exec("DELETE FROM flags WHERE key = ?", key);
    }
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('version', ?)", Number(version));
    this.sql.exec(
      `INSERT INTO history (key, action, account, at, by, request_id, before, after, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      key,
      action,
      account ?? null,
      at,
      actor.by,
      actor.requestId,
      before === null ? null : JSON.stringify(before),
      after === null ? null : JSON.stringify(after),
      version,
    );
    this.sql.exec(
      `DELETE FROM history WHERE key = ? AND seq <= (
         SELECT seq FROM history WHERE key = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
      key,
      key,
      HISTORY_PER_FLAG,
    );
    return { version, entry: after };
  }

  /** Runs `change` in one transaction; a refusal it returns rolls the transaction back. */
  private async transact<T>(change: () => RegistryOutcome<T>): Promise<RegistryOutcome<T>> {
    let outcome: RegistryOutcome<T>;
    try {
      outcome = this.ctx.storage.transactionSync(() => {
        const result = change();
        // Throwing is what rolls transactionSync back; the refusal is caught just below.
        if (!result.ok) throw result;
        return result;
      });
    } catch (error) {
      const refusal = error as Partial<Refusal>;
      if (refusal?.ok === false && typeof refusal.code === "string") return refusal as Refusal;
      if (isServiceError(error)) return refuse(error.code, error.message, error.details);
      throw error;
    }
    await this.publish();
    return outcome;
  }

  /**
   * Creates or replaces a flag's definition (its overrides are kept). Replacing needs `ifMatch`
   * admitting the current ETag (428 without, 412 stale); creating needs none, and an If-Match on
   * a flag that does not exist fails (412).
   */
  put(
    key: string,
    definition: CheckedFlagDefinition,
    ifMatch: IfMatch | null,
    actor: FlagActor,
  ): Promise<RegistryOutcome<{ entry: FlagSetEntry; created: boolean }>> {
    return this.transact(() => {
      const before = this.entry(key);
      const precondition = checkPrecondition(before, ifMatch);
      if (precondition !== null) return precondition;
      const overrides = before?.overrides ?? {};
      for (const [account, variant] of Object.entries(overrides)) {
        if (!Object.hasOwn(definition.variants, variant)) {
          return refuse("invalid_input", `variants: the override for ${account} names ${variant}, which is gone`, {
            issues: [{ path: "variants", message: `variant ${variant} is used by an override (${account})` }],
          });
        }
      }
      const stamped = { ...definition, version: "", updated_at: "", updated_by: "" } satisfies FlagDefinition;
      const committed = this.commit(key, before, { definition: stamped, overrides }, "put", actor);
      if ("ok" in committed) return committed;
      return { ok: true, entry: committed.entry as FlagSetEntry, created: before === null };
    });
  }

  /** Deletes a flag and its overrides (its history stays). Needs `ifMatch` (428/412); 404 when absent. */
  remove(key: string, ifMatch: IfMatch | null, actor: FlagActor): Promise<RegistryOutcome<{ version: string }>> {
    return this.transact(() => {
      const before = this.entry(key);
      if (before === null) return refuse("not_found", `flag ${key} is not defined`);
      const precondition = checkPrecondition(before, ifMatch);
      if (precondition !== null) return precondition;
      const committed = this.commit(key, before, null, "delete", actor);
      if ("ok" in committed) return committed;
      return { ok: true, version: committed.version };
    });
  }

  /**
   * Sets `account`'s override (body `{ variant }`), bumping the flag's version. An undefined gate
   * flag is created from its built-in definition first; any other undefined flag is 404.
   */
  putOverride(
    key: string,
    account: string,
    body: unknown,
    actor: FlagActor,
  ): Promise<RegistryOutcome<{ entry: FlagSetEntry }>> {
    return this.transact(() => {
      const before = this.entry(key);
      const base = before ?? (isGateFlag(key) ? gateFlagEntry(key) : null);
      if (base === null) return refuse("not_found", `flag ${key} is not defined`);
      const variant = checkFlagOverride(base.definition, body);
      const overrides = { ...base.overrides };
      if (!Object.hasOwn(overrides, account) && Object.keys(overrides).length >= FLAG_LIMITS.overrides) {
        return refuse("quota_exceeded", `a flag has at most ${FLAG_LIMITS.overrides} overrides`, {
          quota: "flag_overrides",
          limit: FLAG_LIMITS.overrides,
          used: Object.keys(overrides).length,
          requested: 1,
        });
      }
      Object.defineProperty(overrides, account, {
        value: variant,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      const committed = this.commit(
        key,
        before,
        { definition: base.definition, overrides },
        "put_override",
        actor,
        account,
      );
      if ("ok" in committed) return committed;
      return { ok: true, entry: committed.entry as FlagSetEntry };
    });
  }

  /** Removes `account`'s override (404 when there is none), bumping the flag's version. */
  removeOverride(key: string, account: string, actor: FlagActor): Promise<RegistryOutcome<{ entry: FlagSetEntry }>> {
    return this.transact(() => {
      const before = this.entry(key);
      if (before === null) return refuse("not_found", `flag ${key} is not defined`);
      if (!Object.hasOwn(before.overrides, account)) {
        return refuse("not_found", `flag ${key} has no override for ${account}`);
      }
      const overrides = { ...before.overrides };
      delete overrides[account];
      const committed = this.commit(
        key,
        before,
        { definition: before.definition, overrides },
        "delete_override",
        actor,
        account,
      );
      if ("ok" in committed) return committed;
      return { ok: true, entry: committed.entry as FlagSetEntry };
    });
  }

  /** A page of `key`'s history, newest first, from before `before` (a seq) when given. */
  history(key: string, limit: number, before: number | null): FlagHistoryPage {
    const rows = this.sql
      .exec<Record<string, SqlStorageValue>>(
        "SELECT * FROM history WHERE key = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        key,
        before ?? Number.MAX_SAFE_INTEGER,
        limit + 1,
      )
      .toArray();
    const entries = rows.slice(0, limit).map(
      (row): FlagHistoryEntry => ({
        seq: row.seq as number,
        key: row.key as string,
        action: row.action as FlagChangeAction,
        ...(row.account === null ? {} : { account: row.account as string }),
        at: row.at as string,
        by: row.by as string,
        request_id: row.request_id as string,
        before: row.before === null ? null : (JSON.parse(row.before as string) as FlagSetEntry),
        after: row.after === null ? null : (JSON.parse(row.after as string) as FlagSetEntry),
        version: row.version as string,
      }),
    );
    const last = entries[entries.length - 1];
    return { entries, next: rows.length > limit && last !== undefined ? last.seq : null };
  }

  /**
   * Publishes the current set to KV. Publications run one after another and each reads the set
   * as it is when it runs, so the last one to land is always the latest; a failed one leaves an
   * alarm that publishes again (the write it followed still succeeds).
   */
  private publish(): Promise<void> {
    const next = this.publishing.then(async () => {
      try {
        await this.env.KV_FLAGS.put(FLAG_SET_KEY, JSON.stringify(this.set()));
      } catch (error) {
        // The change is committed either way; the set reaches KV when the alarm publishes it.
        logEvent("error", "flag set not published to KV; the alarm retries it", { error });
        await this.ctx.storage.setAlarm(Date.now() + 5_000);
      }
    });
    this.publishing = next.catch(() => {});
    return this.publishing;
  }

  /** Retries a publication that failed. */
  override async alarm(): Promise<void> {
    await this.publish();
  }
}

function checkPrecondition(current: FlagSetEntry | null, ifMatch: IfMatch | null): Refusal | null {
  if (current === null) {
    return ifMatch === null ? null : refuse("precondition_failed", "If-Match names a flag that does not exist");
  }
  const etag = flagEtag(current.definition.version);
  if (ifMatch === null) {
    return refuse("precondition_required", `changing an existing flag needs If-Match: ${etag}`, { etag });
  }
  if (!ifMatchAdmits(ifMatch, etag)) {
    return refuse("precondition_failed", `the flag changed: its ETag is now ${etag}`, { etag });
  }
  return null;
}
