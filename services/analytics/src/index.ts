import type { CallContext, Identity } from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { withClient } from "./db";
import type { UsageSummary } from "./queries";
import {
  adminUsage,
  type RollupResult,
  type RollupStatus,
  rollupRange,
  rollupScheduled,
  rollupStatus,
  tenantUsage,
} from "./service";

export {
  connectionString,
  type Db,
  type DbResult,
  inTransaction,
  isUnavailable,
  withClient,
  withTransaction,
} from "./db";

/** What `database()` reports: the server it reached and the migrations applied to it. */
export interface DatabaseStatus {
  /** `server_version` as PostgreSQL reports it, e.g. "18.4". */
  version: string;
  /** Names from `schema_migrations`, in the order they were applied. */
  migrations: string[];
}

/**
 * Internal worker: the hourly usage rollup into PostgreSQL (Neon via Hyperdrive in production) and
 * the cost analytics read from it. No routes; the gateway and the jobs worker call it over RPC. A
 * worker of its own so that `pg` stays out of billing's bundle, which every request passes through.
 */
export class AnalyticsService extends MeshEntrypoint<AnalyticsEnv> {
  /**
   * Liveness for the gateway's `/ready`: answers without touching the database, so a database
   * outage degrades analytics alone rather than the whole mesh's readiness.
   */
  async health(): Promise<{ service: "analytics"; ok: true; database: "configured" | "not_configured" }> {
    return {
      service: "analytics",
      ok: true,
      database: this.env.DB?.connectionString ? "configured" : "not_configured",
    };
  }

  /**
   * Reaches the database through the DB binding and reports its version and applied migrations.
   * 503 `not_configured` without a binding, 503 `upstream_unavailable` when it cannot be reached.
   */
  async database(): Promise<DatabaseStatus> {
    return withClient(this.env, this.ctx, async (db) => {
      const version = await db.query<{ server_version: string }>("SHOW server_version");
      const migrations = await db.query<{ name: string }>(
        "SELECT name FROM schema_migrations ORDER BY applied_at, name",
      );
      return {
        version: version.rows[0]?.server_version ?? "unknown",
        migrations: migrations.rows.map((row) => row.name),
      };
    });
  }

  /**
   * Admin or the system (the jobs cron's identity): rolls every hour `{ from?, to? }` touches (ISO
   * times; default the last ROLLUP_LOOKBACK_HOURS), the open hour included, a future `to` clamped to
   * now; answers when done with what it wrote. Bad ranges are 400; without a database 503.
   */
  async rollup(input: unknown, identity: Identity, call: CallContext): Promise<RollupResult> {
    return rollupRange(this.env, this.ctx, input, identity, call);
  }

  /**
   * The hourly `usage.rollup` job: closed hours of the catch-up window not rolled since they closed
   * (bounded), then the lookback window and the open hour again.
   */
  async rollupScheduled(identity: Identity, call: CallContext): Promise<RollupResult> {
    return rollupScheduled(this.env, this.ctx, identity, call);
  }

  /** The caller's own rolled-up usage: `{ from?, to?, group_by? }` (hour, day, model or provider). */
  async usage(query: unknown, identity: Identity, _call: CallContext): Promise<UsageSummary> {
    return tenantUsage(this.env, this.ctx, query, identity);
  }

  /** Admin: any tenant's usage (`account`), or everyone's; `group_by` also takes `account`. */
  async adminUsage(query: unknown, identity: Identity, _call: CallContext): Promise<UsageSummary> {
    return adminUsage(this.env, this.ctx, query, identity);
  }

  /** Admin: recent rollup runs, the lag (oldest closed hour not rolled) and rows written. */
  async rollups(identity: Identity, _call: CallContext): Promise<RollupStatus> {
    return rollupStatus(this.env, this.ctx, identity);
  }
}

/** What other workers bind to (`"entrypoint": "AnalyticsEntrypoint"`): AnalyticsService, answering refusals as values. */
export const AnalyticsEntrypoint = refusingEntrypoint<AnalyticsEnv, typeof AnalyticsService>(AnalyticsService);

export default {
  async fetch(): Promise<Response> {
    return new Response("Not found", { status: 404 });
  },
} satisfies ExportedHandler<AnalyticsEnv>;
