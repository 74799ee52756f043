import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { isServiceError } from "@cognomega/shared";
import { expect } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { BillingService } from "../src/index";
import type { LedgerCall } from "../src/ledger";

export const admin: Identity = { sub: "admin", source: "admin", admin: true };
export const call = { requestId: "billing-test-request" };

/** The service as its own entrypoint, over the real Durable Objects and KV of this test run. */
export function billing(overrides: Partial<BillingEnv> = {}): BillingService {
  return new BillingService(createExecutionContext(), { ...env, ...overrides });
}

/** A fresh guest account with its starter credits (GUEST_CREDITS), opened the way a user's is. */
export async function newAccount(): Promise<Identity> {
  const { sub } = await billing().issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

/** The ledger Durable Object of an account, for invariant checks and controlled time. */
export function ledger(account: string) {
  return env.ACCOUNT_LEDGER.get(env.ACCOUNT_LEDGER.idFromName(account));
}

export function at(now: number, actor = "test"): LedgerCall {
  return { now, requestId: "ledger-test", actor };
}

/** The stored balance equals the sum of the entries, nothing is negative, holds add up. */
export async function expectInvariants(account: string): Promise<void> {
  const audit = await ledger(account).audit();
  expect(audit.entriesSum).toBe(audit.balance);
  expect(audit.openHolds).toBe(audit.reserved);
  expect(audit.negativeBalances).toBe(0);
  expect(audit.balance - audit.reserved).toBeGreaterThanOrEqual(0);
}

/** The ServiceError code a promise rejects with. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isServiceError(error)) return error.code;
    throw error;
  }
  return "ok";
}
