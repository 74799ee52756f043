import { USAGE_OUTBOX_SCHEMA } from "./usage-outbox";

/**
 * The AccountLedger's SQLite schema. `entries` is append-only: no statement ever updates or
 * deletes a row of it, and `account.balance` always equals the sum of `entries.amount`.
 */
export const LEDGER_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS account (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     name TEXT NOT NULL,
     balance INTEGER NOT NULL CHECK (balance >= 0),
     reserved INTEGER NOT NULL CHECK (reserved >= 0),
     rpm_limit INTEGER,
     daily_limit INTEGER,
     next_alarm INTEGER,
     opened_at INTEGER NOT NULL,
     -- The money invariant, enforced by SQLite too: reserved + spent never exceeds credited.
     CHECK (reserved <= balance)
   )`,
  `CREATE TABLE IF NOT EXISTS entries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     amount INTEGER NOT NULL,
     balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
     reason TEXT,
     request_id TEXT,
     actor TEXT NOT NULL,
     hold_id TEXT,
     created_at INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS holds (
     id TEXT PRIMARY KEY,
     amount INTEGER NOT NULL CHECK (amount > 0),
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     request_id TEXT,
     settled INTEGER,
     closed_at INTEGER
   )`,
  "CREATE INDEX IF NOT EXISTS holds_by_status ON holds (status, expires_at)",
  `CREATE TABLE IF NOT EXISTS daily_spend (day INTEGER PRIMARY KEY, spent INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rate_window (id INTEGER PRIMARY KEY CHECK (id = 1), window INTEGER NOT NULL, count INTEGER NOT NULL)`,
  // A credit allowance: credits (and request slots) an SI instance reserved in one transaction so
  // that it can admit and hold many calls without a round trip each; each call's actual cost is
  // settled against it later as its own ledger entry. `held` is part of `account.reserved`. One
  // with slots that never charged anything is a gateway isolate's slot lease: nothing is drawn on
  // it, and it is pruned minutes after it closes (SLOT_LEASE_RETENTION_MS); others are kept 7 days.
  `CREATE TABLE IF NOT EXISTS allowances (
     id TEXT PRIMARY KEY,
     held INTEGER NOT NULL CHECK (held >= 0),
     charged INTEGER NOT NULL,
     status TEXT NOT NULL,
     window INTEGER NOT NULL,
     slots INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     closed_at INTEGER
   )`,
  "CREATE INDEX IF NOT EXISTS allowances_by_status ON allowances (status, expires_at)",
  USAGE_OUTBOX_SCHEMA,
  // An operation under a client's idempotency key. `nonce` is made with the record and names the
  // operation's charges: a key reused once its record is gone gets a new nonce, so it is billed anew.
  // `state` is in_flight, done or abandoned (kept, nonce and all, for the retry that may come);
  // an in_flight attempt may be taken over only after `lease_until`.
  `CREATE TABLE IF NOT EXISTS idempotency (
     key TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     state TEXT NOT NULL,
     response TEXT,
     created_at INTEGER NOT NULL,
     nonce TEXT,
     lease_until INTEGER
   )`,
];

/** Brings a ledger made by an older schema up to this one (each step runs once). */
export function migrateLedger(sql: SqlStorage): void {
  const columns = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM pragma_table_info('idempotency')")
      .toArray()
      .map((row) => row.name),
  );
  // Records from before carry no nonce or lease: they get a nonce when next begun, and the old
  // ten-minute takeover window (see beginIdempotent).
  if (!columns.has("nonce")) sql.exec("ALTER TABLE idempotency ADD COLUMN nonce TEXT");
  if (!columns.has("lease_until")) sql.exec("ALTER TABLE idempotency ADD COLUMN lease_until INTEGER");
}

// A type alias, not an interface: SqlStorage rows must be assignable to an index signature.
export type AccountRow = {
  name: string;
  balance: number;
  reserved: number;
  rpm_limit: number | null;
  daily_limit: number | null;
  next_alarm: number | null;
  opened_at: number;
};

// A type alias, not an interface: SqlStorage rows must be assignable to an index signature.
export type EntryRow = {
  seq: number;
  id: string;
  kind: "grant" | "adjust" | "settle";
  amount: number;
  balance_after: number;
  reason: string | null;
  request_id: string | null;
  actor: string;
  hold_id: string | null;
  created_at: number;
};

// A type alias, not an interface: SqlStorage rows must be assignable to an index signature.
export type HoldRow = {
  id: string;
  amount: number;
  status: "open" | "settled" | "voided" | "expired";
  created_at: number;
  expires_at: number;
  request_id: string | null;
  settled: number | null;
  closed_at: number | null;
};

// A type alias, not an interface: SqlStorage rows must be assignable to an index signature.
export type AllowanceRow = {
  id: string;
  held: number;
  charged: number;
  status: "open" | "released" | "expired";
  window: number;
  slots: number;
  created_at: number;
  expires_at: number;
  closed_at: number | null;
};
