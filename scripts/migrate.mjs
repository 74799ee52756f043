#!/usr/bin/env node
// `npm run db:migrate`: applies ops/sql/NNNN_name.sql to the PostgreSQL named by DATABASE_URL, in
// order, each file in its own transaction, recorded in schema_migrations. `npm start` and the tests
// run the same function against their own server.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { root } from "./workers.mjs";

/** Where the migrations live. */
export const MIGRATIONS_DIR = join(root, "ops", "sql");

// Any constant works as long as nothing else takes it: every migrator of one database takes this
// lock, so two at once (two `npm start`s, a deploy beside a dev) apply each file exactly once.
const MIGRATION_LOCK = 7_267_114_001;

const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/**
 * The migration files of `dir`, in the order they apply. A name that does not follow
 * `NNNN_name.sql`, or two files with one number, is an error rather than a file silently skipped.
 */
export function migrationFiles(dir = MIGRATIONS_DIR) {
  const names = readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort();
  const seen = new Set();
  return names.map((name) => {
    const match = FILE.exec(name);
    if (!match) throw new Error(`migrate: ${name} is not named NNNN_name.sql (lowercase, digits, underscores)`);
    if (seen.has(match[1])) throw new Error(`migrate: two migrations are numbered ${match[1]}`);
    seen.add(match[1]);
    const sql = readFileSync(join(dir, name), "utf8");
    return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
  });
}

/**
 * Applies every migration of `dir` not yet recorded in `schema_migrations` of the database at
 * `connectionString`. Returns the names it applied (empty when the database is current). A recorded
 * file whose content has changed since is an error: the database no longer matches the repository.
 *
 * @param {string} connectionString
 * @param {{ dir?: string, log?: (line: string) => void }} [options]
 * @returns {Promise<string[]>}
 */
export async function migrate(connectionString, options = {}) {
  const files = migrationFiles(options.dir);
  const log = options.log ?? (() => {});
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    // Session-level: held across the per-file transactions and released when the session ends,
    // even if this process dies.
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query("SELECT name, checksum FROM schema_migrations");
    const applied = new Map(rows.map((row) => [row.name, row.checksum]));
    const done = [];
    for (const file of files) {
      const recorded = applied.get(file.name);
      if (recorded !== undefined) {
        if (recorded !== file.checksum) {
          throw new Error(`migrate: ${file.name} changed after it was applied; add a new migration instead`);
        }
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query(file.sql);
        await client.query("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", [
          file.name,
          file.checksum,
        ]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migrate: ${file.name} failed and was rolled back: ${error.message}`, { cause: error });
      }
      log(`migrate: applied ${file.name}`);
      done.push(file.name);
    }
    return done;
  } finally {
    await client.end();
  }
}

/** A connection string with its password masked, for logs. */
export function redacted(connectionString) {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable connection string)";
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("db:migrate: set DATABASE_URL to the PostgreSQL to migrate (postgresql://user:pass@host/db)");
    process.exit(2);
  }
  try {
    const applied = await migrate(url, { log: console.log });
    console.log(
      applied.length === 0
        ? `db:migrate: ${redacted(url)} is current`
        : `db:migrate: applied ${applied.length} to ${redacted(url)}`,
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
