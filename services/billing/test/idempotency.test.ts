import { runInDurableObject } from "cloudflare:test";
import { sha256Hex } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../src/index";
import { migrateLedger } from "../src/ledger-schema";
import { at, billing, call, codeOf, expectInvariants, ledger, newAccount } from "./helpers";

const DAY_MS = 86_400_000;

async function nonceOf(result: Promise<{ ok: boolean; value?: unknown }>): Promise<string> {
  const begun = await result;
  if (!begun.ok) throw new Error("expected the operation to begin");
  const value = begun.value as { state: string; nonce?: string };
  expect(value.state).toBe("new");
  return value.nonce as string;
}

describe("operation records and their nonce", () => {
  it("keeps the nonce for a retry of a failed attempt, and gives another request under the key a new one", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const first = await nonceOf(account.beginIdempotent(user.sub, "op:k", "body-a", now));
    await account.abandonIdempotent("op:k");
    expect(await nonceOf(account.beginIdempotent(user.sub, "op:k", "body-a", now + 1_000))).toBe(first);
    await account.abandonIdempotent("op:k");
    const other = await nonceOf(account.beginIdempotent(user.sub, "op:k", "body-b", now + 2_000));
    expect(other).not.toBe(first);
  });

  it("forgets a record past retention, so the key begins a new operation with a new nonce", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const first = await nonceOf(account.beginIdempotent(user.sub, "op:old", "body", now));
    account.completeIdempotent("op:old", '"answer"');
    // Before the alarm has pruned it, a record past retention is already gone...
    const later = now + 2 * DAY_MS + 1_000;
    const second = await nonceOf(account.beginIdempotent(user.sub, "op:old", "other body", later));
    expect(second).not.toBe(first);
    account.completeIdempotent("op:old", '"answer"');
    // ...and pruning removes it too.
    expect((await account.pruneAsOf(later + 2 * DAY_MS + 1_000)).ok).toBe(true);
    await runInDurableObject(account, async (_instance, state) => {
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM idempotency").one().n).toBe(0);
    });
  });

  it("keeps an attempt in flight for the lease it asked for", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    await nonceOf(account.beginIdempotent(user.sub, "op:stream", "f", now, 55 * 60_000));
    const early = await account.beginIdempotent(user.sub, "op:stream", "f", now + 30 * 60_000);
    expect(early.ok ? "ok" : early.code).toBe("conflict");
    // The refusal says when the lease is up, so a caller waits that long rather than guess.
    expect(early.ok ? undefined : early.details).toEqual({ retry_after: 25 * 60 });
    await nonceOf(account.beginIdempotent(user.sub, "op:stream", "f", now + 56 * 60_000));
    expect(await codeOf(billing().beginOperation(user, "op:bad-lease", "f", call, { leaseSeconds: 0 }))).toBe(
      "invalid_input",
    );
  });

  it("prunes on a moved clock only in tests", async () => {
    const user = await newAccount();
    const production = await runInDurableObject(ledger(user.sub), async (object) => {
      const instance = object as unknown as AccountLedger;
      const env = (instance as unknown as { env: BillingEnv }).env;
      env.ENVIRONMENT = "production";
      try {
        return await instance.pruneAsOf(Date.now());
      } finally {
        env.ENVIRONMENT = "test";
      }
    });
    expect(production).toMatchObject({ ok: false, code: "forbidden" });
  });
});

describe("a ledger made before records had a nonce", () => {
  it("gains the columns, and an old in-flight record gets a nonce and the old ten-minute window", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    await runInDurableObject(account, async (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE idempotency");
      sql.exec(
        "CREATE TABLE idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL, response TEXT, created_at INTEGER NOT NULL)",
      );
      sql.exec("INSERT INTO idempotency VALUES ('op:legacy', 'f', 'in_flight', NULL, ?)", now);
      migrateLedger(sql);
      migrateLedger(sql);
      const columns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('idempotency')")
        .toArray()
        .map((row) => row.name);
      expect(columns).toEqual(expect.arrayContaining(["nonce", "lease_until"]));
    });
    const early = await account.beginIdempotent(user.sub, "op:legacy", "f", now + 5 * 60_000);
    expect(early.ok ? "ok" : early.code).toBe("conflict");
    expect(await nonceOf(account.beginIdempotent(user.sub, "op:legacy", "f", now + 11 * 60_000))).toMatch(
      /^[0-9a-f-]{36}$/,
    );
  });
});

describe("an operation's fingerprint", () => {
  it("is kept as a SHA-256 of the request, even when the request itself is sent", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const raw = JSON.stringify({ prompt: "x".repeat(100_000) });
    const hash = await sha256Hex(raw);
    const first = await nonceOf(account.beginIdempotent(user.sub, "op:raw", raw, now));
    await runInDurableObject(account, async (_instance, state) => {
      expect(state.storage.sql.exec("SELECT fingerprint FROM idempotency WHERE key = 'op:raw'").one().fingerprint).toBe(
        hash,
      );
    });
    // The request and its hash are the same request.
    await account.abandonIdempotent("op:raw");
    expect(await nonceOf(account.beginIdempotent(user.sub, "op:raw", hash, now + 1_000))).toBe(first);
    await account.abandonIdempotent("op:raw");
    expect(await nonceOf(account.beginIdempotent(user.sub, "op:raw", raw, now + 2_000))).toBe(first);
  });

  it("matches a record written before fingerprints were hashed by its request's hash", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    const raw = '{"prompt":"an ask from before the deploy"}';
    await nonceOf(account.beginIdempotent(user.sub, "op:setup", "f", now));
    await runInDurableObject(account, async (_instance, state) => {
      const insert = (key: string, status: string, response: string | null, nonce: string) =>
        state.storage.sql.exec(
          "INSERT INTO idempotency (key, fingerprint, state, response, created_at, nonce, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
          key,
          raw,
          status,
          response,
          now,
          nonce,
          now + 20 * 60_000,
        );
      insert("op:done", "done", '"the first answer"', "nonce-done");
      insert("op:failed", "abandoned", null, "nonce-failed");
      insert("op:running", "in_flight", null, "nonce-running");
    });
    const hash = await sha256Hex(raw);
    expect(await account.beginIdempotent(user.sub, "op:done", hash, now + 1_000)).toMatchObject({
      ok: true,
      value: { state: "replay", response: '"the first answer"' },
    });
    const other = await account.beginIdempotent(user.sub, "op:done", await sha256Hex("{}"), now + 1_000);
    expect(other.ok ? "ok" : other.code).toBe("idempotency_mismatch");
    expect(await nonceOf(account.beginIdempotent(user.sub, "op:failed", hash, now + 1_000))).toBe("nonce-failed");
    const running = await account.beginIdempotent(user.sub, "op:running", hash, now + 1_000);
    expect(running.ok ? "ok" : running.code).toBe("conflict");
  });
});

describe("one charge per operation", () => {
  it("releases a second hold settled under a charge already made, without charging it", async () => {
    const user = await newAccount();
    const account = ledger(user.sub);
    const now = Date.now();
    await account.reserve("op-charge:h1", 100_000, 60_000, at(now));
    const first = await account.settle("op-charge:h1", 40_000, at(now + 1), undefined, "op-charge");
    expect(first.ok && first.value.entry).toMatchObject({ id: "settle:op-charge", amount: -40_000 });
    // A retry of the same operation held again and was answered by another model.
    await account.reserve("op-charge:h2", 100_000, 60_000, at(now + 2));
    const second = await account.settle("op-charge:h2", 55_000, at(now + 3), undefined, "op-charge");
    expect(second.ok && second.value.entry).toMatchObject({ id: "settle:op-charge", amount: -40_000 });
    const snapshot = await account.snapshot(now + 4);
    expect(snapshot.ok && snapshot.value).toMatchObject({ balance: 5_000_000 - 40_000, reserved: 0 });
    await expectInvariants(user.sub);
  });
});
