import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { isServiceError } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { AnalyticsService, withClient, withTransaction } from "../src/index";

const HOUR = "2026-11-30T10:00:00.000Z";

async function usageRows(account: string): Promise<number> {
  const ctx = createExecutionContext();
  const count = await withClient(env, ctx, async (db) => {
    const result = await db.query<{ n: string }>("SELECT count(*) AS n FROM usage_hourly WHERE account = $1", [
      account,
    ]);
    return Number(result.rows[0]?.n);
  });
  await waitOnExecutionContext(ctx);
  return count;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("AnalyticsService and PostgreSQL through Hyperdrive", () => {
  it("answers health without touching the database", async () => {
    const service = new AnalyticsService(createExecutionContext(), env);
    expect(await service.health()).toEqual({ service: "analytics", ok: true, database: "configured" });
  });

  it("reaches the run's PostgreSQL through the DB binding, migrated", async () => {
    const ctx = createExecutionContext();
    const status = await new AnalyticsService(ctx, env).database();
    await waitOnExecutionContext(ctx);
    expect(Number.parseInt(status.version, 10)).toBeGreaterThanOrEqual(14);
    expect(status.migrations).toEqual(["0001_usage_rollup.sql"]);
  });

  it("gives up on a statement the database never answers in time: 503 upstream_unavailable, not a hung call", async () => {
    // A connection that dies silently looks like this from the worker: a statement with no answer.
    const ctx = createExecutionContext();
    const error = await rejection(withClient(env, ctx, (db) => db.query("SELECT pg_sleep(15)")));
    await waitOnExecutionContext(ctx);
    expect(isServiceError(error) && error.code).toBe("upstream_unavailable");
  });

  it("closes each invocation's connection in waitUntil", async () => {
    const ctx = createExecutionContext();
    const pid = await withClient(env, ctx, async (db) => {
      const result = await db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      return result.rows[0]?.pid;
    });
    await waitOnExecutionContext(ctx);
    expect(pid).toBeTypeOf("number");
    // The backend exits once it has read the client's Terminate; ask until it is gone, boundedly.
    let open = true;
    for (let attempt = 0; attempt < 50 && open; attempt++) {
      const check = createExecutionContext();
      open = await withClient(env, check, async (db) => {
        const result = await db.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
        return result.rowCount > 0;
      });
      await waitOnExecutionContext(check);
      if (open) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(open).toBe(false);
  });

  it("commits a transaction that completes and counts the statements it sent", async () => {
    const account = `acct-commit-${crypto.randomUUID()}`;
    const ctx = createExecutionContext();
    const statements = await withTransaction(env, ctx, async (db) => {
      await db.query(
        `INSERT INTO usage_hourly (account, provider, model, hour, requests, credits_micro)
         VALUES ($1, 'groq', 'llama-3.1-8b-instant', $2, 3, 1500)`,
        [account, HOUR],
      );
      return db.statements;
    });
    await waitOnExecutionContext(ctx);
    // BEGIN, then the insert.
    expect(statements).toBe(2);
    expect(await usageRows(account)).toBe(1);
  });

  it("rolls back a transaction that throws: nothing is half-written", async () => {
    const account = `acct-rollback-${crypto.randomUUID()}`;
    const ctx = createExecutionContext();
    const error = await rejection(
      withTransaction(env, ctx, async (db) => {
        await db.query(
          `INSERT INTO usage_hourly (account, provider, model, hour, requests) VALUES ($1, 'groq', 'm', $2, 1)`,
          [account, HOUR],
        );
        // Violates the CHECK on whole hours: the server refuses, the first row must go too.
        await db.query(
          `INSERT INTO usage_hourly (account, provider, model, hour, requests) VALUES ($1, 'groq', 'm2', $2, 1)`,
          [account, "2026-11-30T10:30:00.000Z"],
        );
      }),
    );
    await waitOnExecutionContext(ctx);
    expect(error).toMatchObject({ code: "23514" });
    expect(await usageRows(account)).toBe(0);
  });

  it("is 503 upstream_unavailable when the server drops the connection mid-transaction, and nothing is kept", async () => {
    const account = `acct-outage-${crypto.randomUUID()}`;
    const ctx = createExecutionContext();
    const error = await rejection(
      withTransaction(env, ctx, async (db) => {
        await db.query(
          `INSERT INTO usage_hourly (account, provider, model, hour, requests) VALUES ($1, 'groq', 'm', $2, 1)`,
          [account, HOUR],
        );
        // The server ends this session as it would in a restart or a failover (SQLSTATE 57P01).
        await db.query("SELECT pg_terminate_backend(pg_backend_pid())");
      }),
    );
    await waitOnExecutionContext(ctx);
    expect(isServiceError(error) && error.code).toBe("upstream_unavailable");
    expect(await usageRows(account)).toBe(0);
  });

  it("is 503 not_configured without a DB binding or with an empty connection string", async () => {
    for (const DB of [undefined, { connectionString: "" }]) {
      const service = new AnalyticsService(createExecutionContext(), { ...env, DB } as unknown as AnalyticsEnv);
      expect(await service.health()).toMatchObject({ database: "not_configured" });
      const error = await rejection(service.database());
      expect(isServiceError(error) && error.code).toBe("not_configured");
      expect(error).toMatchObject({ status: 503 });
    }
  });

  it("is 503 upstream_unavailable when the database cannot be reached", async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const DB = { connectionString: "postgresql://postgres:postgres@127.0.0.1:1/cognomega?sslmode=disable" };
    const ctx = createExecutionContext();
    const error = await rejection(new AnalyticsService(ctx, { ...env, DB } as unknown as AnalyticsEnv).database());
    await waitOnExecutionContext(ctx);
    expect(isServiceError(error) && error.code).toBe("upstream_unavailable");
  });
});
