// pg is typed by the analytics worker's own declarations (no @types/pg: it would pull Node's types
// into every worker program that types a binding to analytics).
/// <reference path="../src/pg.d.ts" />
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type QueryResultRow } from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { MIGRATIONS_DIR, migrate, migrationFiles } from "../../../scripts/migrate.mjs";

const serverUrl = inject("databaseUrl");
const scratchDirs: string[] = [];

async function query<Row extends QueryResultRow>(url: string, text: string, values?: unknown[]): Promise<Row[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A new, empty database on the run's server, so each test migrates from nothing. */
async function freshDatabase(): Promise<string> {
  if (!serverUrl) throw new Error("no test database: test-support/database.ts did not start one");
  const name = `migrate_${crypto.randomUUID().replaceAll("-", "")}`;
  await query(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A migrations directory holding the real 0001 plus `extra` files. */
function migrationsWith(extra: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "cognomega-migrations-"));
  scratchDirs.push(dir);
  copyFileSync(join(MIGRATIONS_DIR, "0001_usage_rollup.sql"), join(dir, "0001_usage_rollup.sql"));
  for (const [name, sql] of Object.entries(extra)) writeFileSync(join(dir, name), sql);
  return dir;
}

async function schema(url: string): Promise<unknown[]> {
  return query(
    url,
    `SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
}

afterAll(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

describe("npm run db:migrate (scripts/migrate.mjs)", () => {
  it("the run's database is migrated already: applying again is a no-op", async () => {
    if (!serverUrl) throw new Error("no test database");
    const before = await schema(serverUrl);
    const recorded = await query<{ name: string }>(serverUrl, "SELECT name FROM schema_migrations ORDER BY name");
    expect(await migrate(serverUrl)).toEqual([]);
    expect(await schema(serverUrl)).toEqual(before);
    expect(await query(serverUrl, "SELECT name FROM schema_migrations ORDER BY name")).toEqual(recorded);
    expect(recorded.map((row) => row.name)).toEqual(migrationFiles().map((file) => file.name));
  });

  it("creates the tables the rollup writes, with the issue's key, then changes nothing the second time", async () => {
    const url = await freshDatabase();
    expect(await migrate(url)).toEqual(["0001_usage_rollup.sql"]);
    const after = await schema(url);
    const columns = (after as { table_name: string; column_name: string }[])
      .filter((row) => row.table_name === "usage_hourly")
      .map((row) => row.column_name);
    expect(columns).toEqual(
      expect.arrayContaining([
        "account",
        "provider",
        "model",
        "hour",
        "requests",
        "tokens_in",
        "tokens_out",
        "seconds",
        "characters",
        "credits_micro",
        "estimated_requests",
        "embedding_requests",
      ]),
    );
    const key = await query<{ column: string }>(
      url,
      `SELECT a.attname AS column FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'usage_hourly'::regclass AND i.indisprimary
        ORDER BY array_position(i.indkey, a.attnum)`,
    );
    expect(key.map((row) => row.column)).toEqual(["account", "provider", "model", "hour"]);
    expect(await migrate(url)).toEqual([]);
    expect(await schema(url)).toEqual(after);
    expect(await query(url, "SELECT count(*)::int AS n FROM schema_migrations")).toEqual([{ n: 1 }]);
  });

  it("applies each file exactly once when several migrators run at the same time", async () => {
    const url = await freshDatabase();
    const dir = migrationsWith({
      "0002_counter.sql": "CREATE TABLE applied_once (n int); INSERT INTO applied_once VALUES (1);",
    });
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(url, { dir })));
    expect(results.flat().sort()).toEqual(["0001_usage_rollup.sql", "0002_counter.sql"]);
    expect(await query(url, "SELECT count(*)::int AS n FROM applied_once")).toEqual([{ n: 1 }]);
  });

  it("rolls a failing file back whole and applies it once it is fixed", async () => {
    const url = await freshDatabase();
    const dir = migrationsWith({ "0002_broken.sql": "CREATE TABLE half_done (id int);\nSELECT 1 / 0;" });
    await expect(migrate(url, { dir })).rejects.toThrow(
      /0002_broken\.sql failed and was rolled back: division by zero/,
    );
    // 0001 committed in its own transaction; nothing of 0002 is left, and it is not recorded.
    expect(await query(url, "SELECT name FROM schema_migrations")).toEqual([{ name: "0001_usage_rollup.sql" }]);
    expect(await query(url, "SELECT to_regclass('half_done') AS t")).toEqual([{ t: null }]);
    writeFileSync(join(dir, "0002_broken.sql"), "CREATE TABLE half_done (id int);");
    expect(await migrate(url, { dir })).toEqual(["0002_broken.sql"]);
  });

  it("refuses a database whose applied file has since changed", async () => {
    const url = await freshDatabase();
    const dir = migrationsWith({});
    await migrate(url, { dir });
    writeFileSync(join(dir, "0001_usage_rollup.sql"), "CREATE TABLE something_else (id int);");
    await expect(migrate(url, { dir })).rejects.toThrow(/0001_usage_rollup\.sql changed after it was applied/);
  });

  it("refuses misnamed or duplicate-numbered files rather than skipping them", () => {
    expect(() => migrationFiles(migrationsWith({ "2_late.sql": "SELECT 1;" }))).toThrow(/not named NNNN_name\.sql/);
    expect(() => migrationFiles(migrationsWith({ "0001_again.sql": "SELECT 1;" }))).toThrow(
      /two migrations are numbered 0001/,
    );
  });
});
