import { describe, expect, it } from "vitest";
import { env } from "../../../test-support/mesh-env";
import { HOUR_MS as HOUR, hourOf } from "../src/rollup";
import { admin, analytics, call, charge, codeOf, report, rowsOf, sql, tenant } from "./helpers";

const groq = { provider: "groq", model: "llama-3.1-8b-instant", estimated: false };
const openai = { provider: "openai", model: "gpt-4.1-mini", estimated: true };

/** The rows' amounts summed per (account, provider, model) over hours: robust to an hour turning mid-test. */
function totals(rows: Awaited<ReturnType<typeof rowsOf>>) {
  const sums = new Map<string, Record<string, number>>();
  for (const row of rows) {
    const key = `${row.account}|${row.provider}|${row.model}`;
    const sum = sums.get(key) ?? {};
    for (const column of [
      "requests",
      "tokens_in",
      "tokens_out",
      "seconds",
      "characters",
      "credits_micro",
      "estimated_requests",
      "client_requests",
      "embedding_requests",
      "embedding_tokens",
    ] as const)
      sum[column] = (sum[column] ?? 0) + (row[column] as number);
    sums.set(key, sum);
  }
  return Object.fromEntries([...sums].sort(([a], [b]) => a.localeCompare(b)));
}

/** Rolls from an hour before `since` to now (every hour the test's events can be in). */
function rollSince(since: number) {
  return analytics((service) => service.rollup({ from: new Date(since - HOUR).toISOString() }, admin, call));
}

describe("the hourly rollup", () => {
  it("writes each (account, provider, model) of an hour as the sums of its events, and a re-run changes nothing", async () => {
    const started = Date.now();
    const [a, b] = [await tenant(), await tenant()];
    await charge(a, [
      { cost_micro: 1200, usage: { ...groq, tokens_in: 100, tokens_out: 40 } },
      { cost_micro: 800, usage: { ...groq, tokens_in: 50, tokens_out: 10 } },
      { cost_micro: 3000, usage: { ...openai, tokens_in: 7, tokens_out: 9 } },
    ]);
    await charge(b, [{ cost_micro: 5, usage: { ...groq, tokens_in: 1, tokens_out: 2 } }]);
    await report(b, 33, 0.25);
    const first = await rollSince(started);
    expect(first.hours).toBeGreaterThanOrEqual(2);
    expect(first.events).toBeGreaterThanOrEqual(5);
    const rows = await rowsOf([a.sub, b.sub]);
    const blank = { seconds: 0, characters: 0, client_requests: 0, embedding_requests: 0, embedding_tokens: 0 };
    expect(totals(rows)).toEqual({
      [`${a.sub}|groq|llama-3.1-8b-instant`]: {
        ...blank,
        requests: 2,
        tokens_in: 150,
        tokens_out: 50,
        credits_micro: 2000,
        estimated_requests: 0,
      },
      [`${a.sub}|openai|gpt-4.1-mini`]: {
        ...blank,
        requests: 1,
        tokens_in: 7,
        tokens_out: 9,
        credits_micro: 3000,
        estimated_requests: 1,
      },
      [`${b.sub}|client-llm|my-model`]: {
        ...blank,
        requests: 1,
        tokens_in: 33,
        tokens_out: 1,
        credits_micro: 250_000,
        estimated_requests: 0,
        client_requests: 1,
      },
      [`${b.sub}|groq|llama-3.1-8b-instant`]: {
        ...blank,
        requests: 1,
        tokens_in: 1,
        tokens_out: 2,
        credits_micro: 5,
        estimated_requests: 0,
      },
    });
    // Every row is on the hour, and in an hour the events were charged in.
    for (const row of rows) expect(Date.parse(row.hour)).toBeGreaterThanOrEqual(hourOf(started));
    // Again: the same rows, not one of them rewritten (updated_at included).
    await rollSince(started);
    expect(await rowsOf([a.sub, b.sub])).toEqual(rows);
    const runs = await sql<{ status: string; rows: string }>(
      "SELECT status, rows FROM rollup_runs WHERE hour = $1 ORDER BY id DESC LIMIT 2",
      [new Date(hourOf(Date.now())).toISOString()],
    );
    expect(runs.map((run) => run.status)).toEqual(["succeeded", "succeeded"]);
  });

  it("rolls voice (characters, seconds) and embeddings (RAG) up", async () => {
    const started = Date.now();
    const user = await tenant();
    const speech = { provider: "cartesia", model: "sonic-3", estimated: false, source: "voice" as const };
    const whisper = {
      provider: "workers-ai",
      model: "@cf/openai/whisper-large-v3-turbo",
      estimated: false,
      source: "voice" as const,
    };
    const embed = {
      provider: "workers-ai",
      model: "@cf/baai/bge-base-en-v1.5",
      estimated: true,
      source: "rag" as const,
    };
    await charge(user, [
      { cost_micro: 40, usage: { ...speech, tokens_in: 0, tokens_out: 0, characters: 120 } },
      { cost_micro: 60, usage: { ...speech, tokens_in: 0, tokens_out: 0, characters: 80 } },
      { cost_micro: 90, usage: { ...whisper, tokens_in: 0, tokens_out: 0, audio_ms: 12_345 } },
      { cost_micro: 10, usage: { ...whisper, tokens_in: 0, tokens_out: 0, audio_ms: 1 } },
      { cost_micro: 3, usage: { ...embed, tokens_in: 640, tokens_out: 0 } },
    ]);
    await rollSince(started);
    const sums = totals(await rowsOf([user.sub]));
    expect(sums[`${user.sub}|cartesia|sonic-3`]).toMatchObject({ requests: 2, characters: 200, credits_micro: 100 });
    expect(sums[`${user.sub}|workers-ai|@cf/openai/whisper-large-v3-turbo`]).toMatchObject({
      requests: 2,
      seconds: 12.346,
      credits_micro: 100,
    });
    expect(sums[`${user.sub}|workers-ai|@cf/baai/bge-base-en-v1.5`]).toMatchObject({
      requests: 1,
      embedding_requests: 1,
      embedding_tokens: 640,
      tokens_in: 640,
      estimated_requests: 1,
    });
  });

  it("counts a late event of a closed hour on the next run, changing exactly that row", async () => {
    const user = await tenant();
    const other = await tenant();
    const closed = hourOf(Date.now()) - HOUR;
    // One second before the current hour: inside the closed hour, and within the hour billing accepts.
    const late = closed + HOUR - 1000;
    await charge(user, [
      { cost_micro: 100, at: late, usage: { ...groq, tokens_in: 10, tokens_out: 1 } },
      { cost_micro: 200, at: late, usage: { ...openai, tokens_in: 20, tokens_out: 2 } },
    ]);
    await charge(other, [{ cost_micro: 300, at: late, usage: { ...groq, tokens_in: 30, tokens_out: 3 } }]);
    const hour = { from: new Date(closed).toISOString(), to: new Date(closed + HOUR - 1).toISOString() };
    const first = await analytics((service) => service.rollup(hour, admin, call));
    expect(first.hours).toBe(1);
    const before = await rowsOf([user.sub, other.sub]);
    expect(before).toHaveLength(3);
    await charge(user, [{ cost_micro: 50, at: late, usage: { ...groq, tokens_in: 5, tokens_out: 5 } }]);
    await analytics((service) => service.rollup(hour, admin, call));
    const after = await rowsOf([user.sub, other.sub]);
    const changed = after.filter((row, i) => JSON.stringify(row) !== JSON.stringify(before[i]));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      account: user.sub,
      provider: "groq",
      requests: 2,
      tokens_in: 15,
      tokens_out: 6,
      credits_micro: 150,
      hour: new Date(closed).toISOString(),
    });
  });

  it("keeps totals right when two runs of one hour race (the advisory lock serializes them)", async () => {
    const started = Date.now();
    const user = await tenant();
    await charge(
      user,
      Array.from({ length: 20 }, (_, i) => ({ cost_micro: i + 1, usage: { ...groq, tokens_in: i, tokens_out: 1 } })),
    );
    const runs = await Promise.all(Array.from({ length: 4 }, () => rollSince(started)));
    for (const run of runs) expect(run.events).toBeGreaterThanOrEqual(20);
    expect(totals(await rowsOf([user.sub]))).toEqual({
      [`${user.sub}|groq|llama-3.1-8b-instant`]: expect.objectContaining({
        requests: 20,
        tokens_in: 190,
        credits_micro: 210,
      }),
    });
  });

  it("fails whole when the database goes away mid-hour, and the retry writes the hour", async () => {
    const user = await tenant();
    const closed = hourOf(Date.now()) - HOUR;
    const at = closed + HOUR - 2000;
    await charge(user, [{ cost_micro: 70, at, usage: { ...groq, tokens_in: 7, tokens_out: 7 } }]);
    const hour = { from: new Date(closed).toISOString(), to: new Date(closed + HOUR - 1).toISOString() };
    await analytics((service) => service.rollup(hour, admin, call));
    const before = await rowsOf([user.sub]);
    expect(before).toMatchObject([{ requests: 1 }]);
    await charge(user, [
      { cost_micro: 30, at, usage: { ...groq, tokens_in: 3, tokens_out: 3 } },
      { cost_micro: 5, at, usage: { ...openai, tokens_in: 1, tokens_out: 1 } },
    ]);
    // The server ends the rollup's connection while it holds the hour's lock and is reading events.
    const billing = {
      usageForHour: async (...args: Parameters<AnalyticsEnv["BILLING"]["usageForHour"]>) => {
        await sql(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND query LIKE 'SELECT pg_advisory_xact_lock%'`,
        );
        return env.BILLING.usageForHour(...args);
      },
    } as unknown as AnalyticsEnv["BILLING"];
    expect(await codeOf(analytics((service) => service.rollup(hour, admin, call), { BILLING: billing }))).toBe(
      "upstream_unavailable",
    );
    // Nothing of the new events was written: the hour's rows are as they were.
    expect(await rowsOf([user.sub])).toEqual(before);
    const retried = await analytics((service) => service.rollup(hour, admin, call));
    expect(retried.hours).toBe(1);
    const after = totals(await rowsOf([user.sub]));
    expect(after[`${user.sub}|groq|llama-3.1-8b-instant`]).toMatchObject({ requests: 2, credits_micro: 100 });
    expect(after[`${user.sub}|openai|gpt-4.1-mini`]).toMatchObject({ requests: 1, credits_micro: 5 });
  });

  it("fails without writing when the database cannot be reached, and is not_configured without one", async () => {
    const dead = { connectionString: "postgresql://postgres:postgres@127.0.0.1:1/cognomega?sslmode=disable" };
    expect(
      await codeOf(analytics((service) => service.rollup({}, admin, call), { DB: dead as unknown as Hyperdrive })),
    ).toBe("upstream_unavailable");
    expect(await codeOf(analytics((service) => service.rollup({}, admin, call), { DB: undefined }))).toBe(
      "not_configured",
    );
    expect(
      await codeOf(analytics((service) => service.usage({}, { ...admin, admin: false }, call), { DB: undefined })),
    ).toBe("not_configured");
  });

  it("refuses bad ranges and non-admins", async () => {
    const user = await tenant();
    expect(await codeOf(analytics((service) => service.rollup({}, user, call)))).toBe("forbidden");
    for (const bad of [
      { from: "2026-12-01T10:00:00Z", to: "2026-12-01T09:00:00Z" },
      { from: "2026-01-01T00:00:00Z", to: "2026-12-01T00:00:00Z" },
      { from: new Date(Date.now() - 8 * 86_400_000).toISOString() },
      { from: "yesterday" },
      { to: "2026-13-45" },
      { from: 5 },
      { from: "2026-12-01", extra: true },
    ])
      expect({ bad, code: await codeOf(analytics((service) => service.rollup(bad, admin, call))) }).toEqual({
        bad,
        code: "invalid_input",
      });
    expect(await codeOf(analytics((service) => service.rollup([1], admin, call)))).toBe("invalid_input");
  });

  it("clamps a future end to now and rolls the open hour", async () => {
    const result = await analytics((service) =>
      service.rollup({ to: new Date(Date.now() + 30 * 86_400_000).toISOString() }, admin, call),
    );
    const hours = result.per_hour.map((h) => Date.parse(h.hour));
    expect(Math.max(...hours)).toBe(hourOf(Date.now()));
    // The default lookback (3 hours) plus the open hour.
    expect(result.hours).toBeGreaterThanOrEqual(4);
    expect(result.hours).toBeLessThanOrEqual(5);
  });

  it("catches up on closed hours no run has rolled since they closed, then reports no lag", async () => {
    // A six-hour catch-up window: hours 4 to 6 before now are rolled by no other test.
    const window = { ROLLUP_CATCHUP_HOURS: "6" };
    const before = await analytics((service) => service.rollups(admin, call), window);
    expect(before.oldest_unrolled_hour).not.toBeNull();
    expect(before.lag_hours).toBeGreaterThanOrEqual(3);
    const first = await analytics((service) => service.rollupScheduled(admin, call), window);
    const rolled = first.per_hour.map((h) => h.hour);
    expect(rolled).toContain(before.oldest_unrolled_hour);
    expect(rolled).toContain(new Date(hourOf(Date.now())).toISOString());
    const status = await analytics((service) => service.rollups(admin, call), window);
    expect(status).toMatchObject({ lag_hours: 0, oldest_unrolled_hour: null });
    expect(status.runs[0]).toMatchObject({ status: "succeeded", finished_at: expect.any(String) });
    expect(status.rows_written_24h).toBeGreaterThan(0);
    // A later run does only the lookback (three hours) and the open hour again.
    const again = await analytics((service) => service.rollupScheduled(admin, call), window);
    expect(again.hours).toBe(4);
    expect(await codeOf(analytics((service) => service.rollups({ ...admin, admin: false }, call)))).toBe("forbidden");
    expect(await codeOf(analytics((service) => service.rollupScheduled({ ...admin, admin: false }, call)))).toBe(
      "forbidden",
    );
  });
});
