import {
  type CreditsView,
  type HoldView,
  type LedgerEntryView,
  type LimitState,
  microToCredits,
} from "@cognomega/shared";
import type { AccountSnapshot, LimitSnapshot } from "./ledger";
import type { EntryRow, HoldRow } from "./ledger-schema";

/** Ledger rows as the public API shows them: credits, ISO times. */
export function entryView(row: EntryRow): LedgerEntryView {
  return {
    id: row.id,
    kind: row.kind,
    amount: microToCredits(row.amount),
    balance_after: microToCredits(row.balance_after),
    reason: row.reason,
    request_id: row.request_id,
    actor: row.actor,
    hold_id: row.hold_id,
    created_at: new Date(row.created_at).toISOString(),
  };
}

export function holdView(row: HoldRow): HoldView {
  return { id: row.id, amount: microToCredits(row.amount), expires_at: new Date(row.expires_at).toISOString() };
}

export function creditsView(snapshot: AccountSnapshot): CreditsView {
  return {
    account: snapshot.name,
    balance: microToCredits(snapshot.balance),
    reserved: microToCredits(snapshot.reserved),
    available: microToCredits(snapshot.balance - snapshot.reserved),
    holds: snapshot.holds.map(holdView),
  };
}

export function limitView(limits: LimitSnapshot): LimitState {
  return {
    rpm: { limit: limits.rpm.limit, remaining: limits.rpm.remaining, reset_seconds: limits.rpm.resetSeconds },
    daily_credits: {
      limit: microToCredits(limits.daily.limit),
      remaining: microToCredits(limits.daily.remaining),
      reset_seconds: limits.daily.resetSeconds,
    },
  };
}
