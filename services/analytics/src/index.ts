import { WorkerEntrypoint } from "cloudflare:workers";
import { withClient } from "./db";

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
export class AnalyticsService extends WorkerEntrypoint<AnalyticsEnv> {
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
}

export default {
  async fetch(): Promise<Response> {
    return new Response("Not found", { status: 404 });
  },
} satisfies ExportedHandler<AnalyticsEnv>;
