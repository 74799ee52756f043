/// <reference path="./pg.d.ts" />
import { ServiceError } from "@cognomega/shared";
import { Client, type QueryResultRow } from "pg";

/** The rows of one statement, as `pg` returns them. */
export interface DbResult<Row extends QueryResultRow> {
  rows: Row[];
  rowCount: number;
}

/**
 * One connection to PostgreSQL for the length of a call. `statements` counts what was sent, so a
 * caller (the benchmark, a test) can check how many round trips a piece of work took.
 */
export interface Db {
  query<Row extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<DbResult<Row>>;
  readonly statements: number;
}

/** What this module needs of a worker's env: the Hyperdrive binding, which may be absent. */
export interface DbEnv {
  DB?: Hyperdrive;
}

// SQLSTATE classes that mean "the server is not there for us right now", not "this SQL is wrong":
// 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, cancel).
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;

/**
 * The database's connection string, or 503 `not_configured` when the worker was deployed without a
 * Hyperdrive binding (an offline deployment has no analytics rather than failing obscurely).
 */
export function connectionString(env: DbEnv): string {
  const url = env.DB?.connectionString;
  if (!url) {
    throw new ServiceError(
      "not_configured",
      "analytics has no database: bind a Hyperdrive config as DB (OPS.md: PostgreSQL)",
    );
  }
  return url;
}

/**
 * True for an error that says the database could not be reached or went away (refused, reset,
 * terminated, shut down), as opposed to one the SQL itself caused.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  const severity = (error as Error & { severity?: unknown }).severity;
  // A DatabaseError (it carries a severity) is the server answering: only some classes mean it is down.
  if (typeof severity === "string") return typeof code === "string" && UNAVAILABLE_SQLSTATE.test(code);
  return true;
}

/**
 * A connection that dies without a word (a proxy that drops it, a network partition) would leave a
 * call waiting on its socket until the platform ends it: these bound the wait, and the rollup job
 * retries. The longest statement, an upsert of 1,000 rows, takes milliseconds.
 */
const CONNECT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 10_000;

function unavailable(error: unknown): ServiceError {
  return new ServiceError("upstream_unavailable", `the analytics database is unavailable: ${String(error)}`);
}

/**
 * Runs `fn` with a new connection, closed in `ctx.waitUntil` once `fn` settles (Cloudflare's advice
 * for Hyperdrive: a client per invocation; Hyperdrive pools the real connections). A database that
 * cannot be reached, or drops the connection mid-way, is 503 `upstream_unavailable`, so a caller
 * (the rollup job) retries; an error the SQL caused is rethrown as it is.
 */
export async function withClient<T>(env: DbEnv, ctx: ExecutionContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const client = new Client({
    connectionString: connectionString(env),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
  });
  // An idle client's connection can fail between statements; without a listener that is an
  // uncaught error in the isolate. The next query on it fails and reports it.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    ctx.waitUntil(client.end().catch(() => {}));
    throw unavailable(error);
  }
  let statements = 0;
  const db: Db = {
    async query<Row extends QueryResultRow>(text: string, values?: unknown[]): Promise<DbResult<Row>> {
      statements++;
      const result = await client.query<Row>(text, values);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    },
    get statements() {
      return statements;
    },
  };
  try {
    return await fn(db);
  } catch (error) {
    if ((error as { name?: unknown }).name === "ServiceError" || !isUnavailable(error)) throw error;
    throw unavailable(error);
  } finally {
    ctx.waitUntil(client.end().catch(() => {}));
  }
}

/**
 * `withClient` inside one transaction: committed when `fn` resolves, rolled back when it throws, so
 * a failure (the database going away included) leaves nothing half-written.
 */
export async function withTransaction<T>(env: DbEnv, ctx: ExecutionContext, fn: (db: Db) => Promise<T>): Promise<T> {
  return withClient(env, ctx, (db) => inTransaction(db, fn));
}

/** Runs `fn` in a transaction on an open connection (several transactions may share one). */
export async function inTransaction<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  await db.query("BEGIN");
  let result: T;
  try {
    result = await fn(db);
  } catch (error) {
    // A connection that is gone has rolled back already; the original error is the one to report.
    await db.query("ROLLBACK").catch(() => {});
    throw error;
  }
  await db.query("COMMIT");
  return result;
}
