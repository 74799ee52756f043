import {
  checkEvaluationContext,
  type EvaluationContext,
  type FlagSet,
  type FlagSetCache,
  type FlagSnapshotSource,
  type Identity,
  identityFlagContext,
  isolateFlagSets,
} from "@cognomega/shared";
import type { RequestContext } from "./context";

const DAY_MS = 86_400_000;

/** This isolate's cache of the flag set, loaded through `FLAGS.snapshot()` (warm: no RPC). */
export function gatewayFlagSets(env: GatewayEnv): FlagSetCache {
  return isolateFlagSets(env.FLAGS as unknown as FlagSnapshotSource, env.FLAGS_CACHE_TTL_SECONDS);
}

/** The current flag set for evaluating in this isolate (warm: no RPC). */
export function currentFlagSet(ctx: RequestContext): Promise<FlagSet> {
  return gatewayFlagSets(ctx.env).get();
}

/**
 * Days since a guest account was created. A guest account is its token (`guest:<uuid>` is minted
 * with it and never re-issued), so the verified token's `iat` is the account's creation time.
 * Other accounts (email identities, the operator) carry no creation time the gateway can read
 * without a ledger call, so they have no `account_age_days`.
 */
function accountAgeDays(ctx: RequestContext, identity: Identity, now: number): number | undefined {
  if (identity.source !== "jwt" || !identity.sub.startsWith("guest:")) return undefined;
  const iat = ctx.tokenIssuedAt;
  if (iat === undefined) return undefined;
  return Math.max(0, Math.floor((now - iat * 1000) / DAY_MS));
}

/** The attributes the gateway knows about a caller: no client can set these for itself. */
export function derivedAttributes(ctx: RequestContext, identity: Identity, now = Date.now()): EvaluationContext {
  const { targetingKey: _account, ...derived } = identityFlagContext(identity);
  const country = (ctx.request as Request<unknown, IncomingRequestCfProperties>).cf?.country;
  if (typeof country === "string" && country.length > 0) derived.country = country;
  const age = accountAgeDays(ctx, identity, now);
  if (age !== undefined) derived.account_age_days = age;
  return derived;
}

/** A context the gateway built, or why the client's part was refused (OFREP `INVALID_CONTEXT`). */
export type BuiltContext = { ok: true; context: EvaluationContext } | { ok: false; errorDetails: string };

/**
 * The evaluation context for `identity`: `targetingKey` is the caller's account and the derived
 * attributes (`email_domain`, `country`, `account_age_days`) win over client-sent ones, so a
 * caller can neither evaluate as another account nor claim another domain. An admin (admin key,
 * with or without a Bearer token) may send any targetingKey and attributes; the derived ones only
 * fill in what it left out.
 */
export function buildEvaluationContext(ctx: RequestContext, identity: Identity, clientContext: unknown): BuiltContext {
  const checked = checkEvaluationContext(clientContext);
  if (!checked.ok) return checked;
  const client = checked.context;
  const derived = derivedAttributes(ctx, identity);
  const context: EvaluationContext = {};
  const assign = (source: EvaluationContext) => {
    for (const [name, value] of Object.entries(source)) {
      Object.defineProperty(context, name, { value, enumerable: true, writable: true, configurable: true });
    }
  };
  if (identity.admin) {
    assign({ targetingKey: identity.sub, ...derived });
    assign(client);
  } else {
    assign(client);
    assign({ ...derived, targetingKey: identity.sub });
  }
  return { ok: true, context };
}
