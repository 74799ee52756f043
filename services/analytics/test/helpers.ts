import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { type AiUsage, type Identity, isServiceError } from "@cognomega/shared";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { env } from "../../../test-support/mesh-env";
import { withClient } from "../src/db";
import { AnalyticsService } from "../src/index";

export const admin: Identity = { sub: "admin", source: "admin", admin: true };
export const call = { requestId: "analytics-test-request" };
export const HOUR_MS = 3_600_000;

/** Runs one RPC method of a fresh AnalyticsService and waits for its connection to close. */
export async function analytics<T>(
  fn: (service: AnalyticsService) => Promise<T>,
  overrides: Partial<AnalyticsEnv> = {},
): Promise<T> {
  const ctx = createExecutionContext();
  try {
    return await fn(new AnalyticsService(ctx, { ...env, ...overrides }));
  } finally {
    await waitOnExecutionContext(ctx);
  }
}

/** A query on the run's PostgreSQL, as the service's own connection would make it. */
export async function sql<Row extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<Row[]> {
  const ctx = createExecutionContext();
  const rows = await withClient(env, ctx, async (db) => (await db.query<Row>(text, values)).rows);
  await waitOnExecutionContext(ctx);
  return rows;
}

/** A new tenant of the real billing worker, with its starter credits. */
export async function tenant(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

/** A charged call: what SI, voice or RAG tells billing, at `at` (within the hour before now). */
export interface Charge {
  cost_micro: number;
  at?: number;
  usage: AiUsage;
}

let draws = 0;

/**
 * Charges calls through billing's allowance path (as SI does), one usage event each, and waits
 * until the ledger's outbox has carried them to KV (boundedly: it carries within about a second).
 */
export async function charge(user: Identity, charges: Charge[]): Promise<void> {
  const allowance = `al-${crypto.randomUUID()}`;
  await env.BILLING.openAllowance(
    user,
    { id: allowance, min_micro: 0, want_micro: 100_000, want_slots: 0, ttl_seconds: 60 },
    call,
  );
  const batch = charges.map((c) => ({
    id: `draw-${++draws}-${crypto.randomUUID()}`,
    cost_micro: c.cost_micro,
    request_id: `req-${draws}`,
    ...(c.at === undefined ? {} : { at: c.at }),
    usage: c.usage,
  }));
  await env.BILLING.settleAllowance(user, allowance, batch, { unusedSlots: 0 }, call);
  await carried(user, batch.length);
}

/** Waits until `count` more of the account's events are listed than were before (bounded). */
async function carried(user: Identity, count: number): Promise<void> {
  const wanted = (known.get(user.sub) ?? 0) + count;
  for (let attempt = 0; attempt < 200; attempt++) {
    const listed = await env.BILLING.listUsage(
      user,
      { from: new Date(Date.now() - 2 * HOUR_MS).toISOString(), limit: "100" },
      call,
    );
    if (listed.events.length >= wanted) {
      known.set(user.sub, wanted);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the outbox did not carry ${count} events for ${user.sub}`);
}
const known = new Map<string, number>();

/** A usage event the client reports itself (`POST /api/billing/usage`). */
export async function report(user: Identity, tokensIn: number, credits: number): Promise<void> {
  await env.BILLING.reportUsage(
    user,
    { tokens_in: tokensIn, tokens_out: 1, provider: "client-llm", model: "my-model", credits },
    undefined,
    call,
  );
  known.set(user.sub, (known.get(user.sub) ?? 0) + 1);
}

/** The usage_hourly rows of some accounts, in a stable order, amounts as numbers. */
export async function rowsOf(accounts: string[]) {
  const rows = await sql<Record<string, unknown>>(
    `SELECT account, provider, model, hour, requests, tokens_in, tokens_out, seconds, characters, credits_micro,
            estimated_requests, client_requests, embedding_requests, embedding_tokens, updated_at
       FROM usage_hourly WHERE account = ANY($1) ORDER BY account, provider, model, hour`,
    [accounts],
  );
  return rows.map((row) => ({
    account: String(row.account),
    provider: String(row.provider),
    model: String(row.model),
    updated_at: new Date(row.updated_at as string).toISOString(),
    hour: new Date(row.hour as string).toISOString(),
    requests: Number(row.requests),
    tokens_in: Number(row.tokens_in),
    tokens_out: Number(row.tokens_out),
    seconds: Number(row.seconds),
    characters: Number(row.characters),
    credits_micro: Number(row.credits_micro),
    estimated_requests: Number(row.estimated_requests),
    client_requests: Number(row.client_requests),
    embedding_requests: Number(row.embedding_requests),
    embedding_tokens: Number(row.embedding_tokens),
  }));
}

/** The ServiceError code a promise rejects with ("ok" when it resolves). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isServiceError(error)) return error.code;
    throw error;
  }
  return "ok";
}
