import {
  AdjustRequest,
  type AiUsage,
  type AllowanceDraw,
  type AllowanceGrant,
  type AllowanceRequest,
  type AllowanceSettlement,
  type CallContext,
  type CreditsView,
  clientIdempotencyKey,
  type GuestToken,
  GuestTokenRequest,
  type HoldView,
  type HourUsagePage,
  type Identity,
  type Jwks,
  type LedgerEntryView,
  type LimitState,
  LimitsRequest,
  MODEL_ID_MAX_LENGTH,
  type OperationRecord,
  PageQuery,
  type PublicJwk,
  type PublishedKeyInfo,
  PublishKeyRequest,
  parseInput,
  requireAdmin,
  runOnce,
  ServiceError,
  type TokenVerificationConfig,
  type UsageEvent,
  UsageQuery,
  UsageReport,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { accountKey } from "./accounts";
import { guestAddressBuckets } from "./client-address";
import {
  guestCreditsMicro,
  guestGrantsPerMinute,
  guestTokensPerMinute,
  JWKS_MAX_AGE_SECONDS,
  tokenSettings,
  usageTtlSeconds,
} from "./config";
import { ensurePublished, listPublishedKeys, publishedJwks, publishKey, retireKey, signingKey } from "./keys";
import { type LedgerCall, type LimitSnapshot, MAX_IN_FLIGHT_LEASE_MS } from "./ledger";
import { unwrap } from "./result";
import { signGuestToken } from "./tokens";
import { listUsage, newestEventAt, recordUsage } from "./usage";
import { HOUR_INDEX_PREFIX, parseHour, usageForHour } from "./usage-hours";
import { creditsView, entryView, holdView, limitView } from "./views";

// Per isolate: account name → its ledger object's id.
const ledgerIds = new Map<string, DurableObjectId>();
const LEDGER_ID_CACHE_SIZE = 10_000;

/**
 * The one ledger object that counts every starter grant: one counter, so the ceiling holds however
 * many isolates issue tokens. Its name is no issued subject (those are `guest:` and `email:`).
 */
const GUEST_GRANTS_BUCKET = "limit:guest-grants";

/** Most calls one settlement may charge (an SI instance flushes what piled up while it waited). */
const MAX_DRAWS_PER_SETTLEMENT = 256;

/**
 * Hold, draw and allowance ids become ledger entry ids and usage-event keys (`usage:<account>:<day>:<ms>:<id>`,
 * at most 512 bytes in KV): short, visible ASCII.
 */
function checkChargeId(id: unknown, what: string): void {
  if (typeof id !== "string" || !/^[\x21-\x7e]{1,160}$/.test(id))
    throw new ServiceError("invalid_input", `${what} is 1-160 visible ASCII characters`);
}

/** A usage event must fit KV's 1 KiB of metadata: bounded names, whole token counts. */
function checkUsage(usage: AiUsage): void {
  const name = (value: unknown, max: number) => typeof value === "string" && value.length > 0 && value.length <= max;
  const count = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  if (
    !name(usage.provider, 100) ||
    !name(usage.model, MODEL_ID_MAX_LENGTH) ||
    !count(usage.tokens_in) ||
    !count(usage.tokens_out) ||
    typeof usage.estimated !== "boolean" ||
    (usage.source !== undefined && usage.source !== "si" && usage.source !== "voice" && usage.source !== "rag") ||
    (usage.characters !== undefined && !count(usage.characters)) ||
    (usage.audio_ms !== undefined && !count(usage.audio_ms))
  )
    throw new ServiceError(
      "invalid_input",
      `usage needs a provider (1-100 characters), a model (1-${MODEL_ID_MAX_LENGTH}), whole token counts and a known source`,
    );
}

/**
 * Tokens, JWKS, the credits ledger, limits and usage events. Reached only over the gateway's service binding;
 * every method takes the caller's request context as its last argument.
 */
export class BillingService extends MeshEntrypoint<BillingEnv> {
  /** Liveness for the gateway's `/ready`: proves the worker runs and its KV answers. */
  async health(): Promise<{ service: "billing"; ok: true }> {
    await this.env.KEYS.get("jwks");
    return { service: "billing", ok: true };
  }

  /**
   * Issues an RS256 guest token (`POST /auth/guest`) and grants the new account its starter
   * credits. `input` is the unvalidated request body; `clientAddress` is the client's
   * `CF-Connecting-IP` (`null` without one). So starter credits cannot be farmed by minting tokens,
   * issuance is limited per address bucket (`GUEST_TOKENS_PER_MINUTE`; an IPv6 /64, an IPv4 address,
   * or one shared bucket for a missing or malformed address; an IPv6 /56 and /48 at 2× and 4× that)
   * and in total (`GUEST_GRANTS_PER_MINUTE`). Over any limit it throws `rate_limited` before any
   * account exists.
   */
  async issueGuestToken(input: unknown, ctx: CallContext, clientAddress: string | null): Promise<GuestToken> {
    const body = parseInput(GuestTokenRequest, input ?? {});
    const settings = tokenSettings(this.env);
    const starter = guestCreditsMicro(this.env);
    const perAddress = guestTokensPerMinute(this.env);
    const total = guestGrantsPerMinute(this.env);
    // Narrowest first, one after another: a refused bucket stops the request before any wider one
    // counts it, so a subscriber over its own limit uses up none of its neighbours' share, nor the
    // global ceiling everyone else needs.
    for (const bucket of guestAddressBuckets(clientAddress))
      await this.admitGuest(bucket.name, perAddress * bucket.multiple);
    await this.admitGuest(GUEST_GRANTS_BUCKET, total);
    const key = await signingKey(this.env);
    await ensurePublished(this.env.KEYS, key);
    const token = await signGuestToken(key, settings, body.email?.toLowerCase());
    unwrap(await this.ledger(token.sub).grantStarter(token.sub, starter, this.ledgerCall(ctx, "system")));
    return token;
  }

  /** Counts one guest token in a limit's ledger object; the refusal carries no account limits. */
  private async admitGuest(bucket: string, perMinute: number): Promise<void> {
    const admitted = await this.ledger(bucket).admit(bucket, Date.now(), perMinute);
    if (!admitted.ok && admitted.details) delete admitted.details.limits;
    unwrap(admitted);
  }

  /** The public key set (`GET /.well-known/jwks.json`), with the current signing key in it. */
  async jwks(_ctx: CallContext): Promise<{ jwks: Jwks; maxAgeSeconds: number }> {
    await this.publishCurrentKey();
    return { jwks: await publishedJwks(this.env.KEYS), maxAgeSeconds: JWKS_MAX_AGE_SECONDS };
  }

  /** What a verifier needs: the published keys plus the issuer and audience tokens must carry. */
  async tokenVerification(_ctx: CallContext): Promise<TokenVerificationConfig> {
    const settings = tokenSettings(this.env);
    await this.publishCurrentKey();
    return { jwks: await publishedJwks(this.env.KEYS), issuer: settings.issuer, audience: settings.audience };
  }

  /** Admin: lists published keys with their rotation facts. */
  async listKeys(identity: Identity, _ctx: CallContext): Promise<PublishedKeyInfo[]> {
    requireAdmin(identity);
    const current = await this.currentKeyOrUndefined();
    return listPublishedKeys(this.env.KEYS, current?.kid);
  }

  /** Admin: publishes a new public key (rotation step 1), idempotent for the same key. */
  async publishKey(input: unknown, identity: Identity, _ctx: CallContext): Promise<PublicJwk> {
    requireAdmin(identity);
    const body = parseInput(PublishKeyRequest, input);
    return publishKey(this.env.KEYS, body.kid, body.public_key_pem);
  }

  /** Admin: retires an old key once the overlap window has passed (or at once with `force`). */
  async retireKey(kid: string, force: boolean, identity: Identity, _ctx: CallContext): Promise<{ retired: string }> {
    requireAdmin(identity);
    const current = await this.currentKeyOrUndefined();
    const overlap = tokenSettings(this.env).ttlSeconds + JWKS_MAX_AGE_SECONDS;
    await retireKey(this.env.KEYS, kid, current, overlap, force);
    return { retired: kid };
  }

  // ---- credits -------------------------------------------------------------------------------

  private ledger(account: string) {
    // Naming an object hashes its name; busy accounts are named over and over, so remember ids.
    let id = ledgerIds.get(account);
    if (!id) {
      id = this.env.ACCOUNT_LEDGER.idFromName(account);
      if (ledgerIds.size >= LEDGER_ID_CACHE_SIZE) ledgerIds.delete(ledgerIds.keys().next().value as string);
      ledgerIds.set(account, id);
    }
    return this.env.ACCOUNT_LEDGER.get(id);
  }

  private ledgerCall(ctx: CallContext, actor: string): LedgerCall {
    return { now: Date.now(), requestId: ctx.requestId, actor };
  }

  /** The caller's limits and what is left of them, without counting a request. */
  async limits(identity: Identity, _ctx: CallContext): Promise<LimitState> {
    return limitView(unwrap(await this.ledger(identity.sub).limits(Date.now())));
  }

  /** The caller's balance, reservations and open holds. */
  async balance(identity: Identity, ctx: CallContext): Promise<CreditsView> {
    return (await this.overview(identity, ctx)).credits;
  }

  /**
   * The caller's balance, reservations, open holds and limits from one ledger call
   * (`GET /api/credits`). Limits count requests the ledger has granted, not what an instance
   * holds of them unused.
   */
  async overview(identity: Identity, _ctx: CallContext): Promise<{ credits: CreditsView; limits: LimitState }> {
    const snapshot = unwrap(await this.ledger(identity.sub).open(identity.sub, Date.now()));
    return { credits: creditsView(snapshot), limits: limitView(snapshot.limits) };
  }

  /**
   * Admin: adds (or with a negative delta, takes away) credits on a named account, exactly once
   * per idempotency key. A debit larger than the available balance is `insufficient_credits`.
   */
  async adjust(
    input: unknown,
    idempotencyKey: unknown,
    identity: Identity,
    ctx: CallContext,
  ): Promise<{ entry: LedgerEntryView; balance: number }> {
    requireAdmin(identity);
    const key = clientIdempotencyKey(idempotencyKey);
    if (key === null) {
      throw new ServiceError("invalid_input", "the Idempotency-Key header is required", {
        issues: [{ path: "Idempotency-Key", message: "required" }],
      });
    }
    const body = parseInput(AdjustRequest, input);
    const account = accountKey(body.account);
    const entry = unwrap(
      await this.ledger(account).adjust(key, body.delta, body.reason, this.ledgerCall(ctx, identity.sub)),
    );
    return { entry: entryView(entry), balance: entryView(entry).balance_after };
  }

  /** Starter credits for a new account, once ever (issued with every new guest token). */
  async grant(account: string, ctx: CallContext): Promise<{ granted: boolean }> {
    const result = unwrap(
      await this.ledger(account).grantStarter(account, guestCreditsMicro(this.env), this.ledgerCall(ctx, "system")),
    );
    return { granted: result.granted };
  }

  /**
   * Reserves the most a call can cost before it runs. `holdId` is the caller's idempotency key
   * for the reservation; amounts are micro-credits. 402 when short, 429 over the daily budget.
   * `balance_micro` is the account's balance as the hold was taken (holds do not change it).
   */
  async reserve(
    identity: Identity,
    holdId: string,
    maxMicro: number,
    ttlSeconds: number,
    ctx: CallContext,
  ): Promise<HoldView & { amount_micro: number; balance_micro: number }> {
    checkChargeId(holdId, "a hold id");
    if (!Number.isSafeInteger(maxMicro) || maxMicro <= 0)
      throw new ServiceError("invalid_input", "a reservation must be a positive whole number of micro-credits");
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 3600)
      throw new ServiceError("invalid_input", "a hold lives 1 to 3600 seconds");
    const { hold, balance } = unwrap(
      await this.ledger(identity.sub).reserve(holdId, maxMicro, ttlSeconds * 1000, this.ledgerCall(ctx, identity.sub)),
    );
    return { ...holdView(hold), amount_micro: hold.amount, balance_micro: balance };
  }

  /**
   * Charges the actual cost (micro-credits) against a hold and releases the rest. A cost above the
   * hold is charged from the available balance as far as it goes, never below zero: `charged_micro`
   * says what was charged and `shortfall_micro` what the balance could not cover. With `usage`, the
   * call is also written as a usage event (source `si`) at the charged cost. With `chargeId`, the
   * charge is named by it rather than by the hold: one charge per operation, whichever of its holds
   * settles it (a second is released without charging).
   */
  async settle(
    identity: Identity,
    holdId: string,
    actualMicro: number,
    ctx: CallContext,
    usage?: AiUsage,
    chargeId?: string,
  ): Promise<{ entry: LedgerEntryView; balance_micro: number; charged_micro: number; shortfall_micro: number }> {
    checkChargeId(holdId, "a hold id");
    if (chargeId !== undefined) checkChargeId(chargeId, "a charge id");
    if (!Number.isSafeInteger(actualMicro) || actualMicro < 0)
      throw new ServiceError("invalid_input", "a cost must be a whole number of micro-credits ≥ 0");
    if (usage !== undefined) checkUsage(usage);
    const { entry, shortfall } = unwrap(
      await this.ledger(identity.sub).settle(holdId, actualMicro, this.ledgerCall(ctx, identity.sub), usage, chargeId),
    );
    return {
      entry: entryView(entry),
      balance_micro: entry.balance_after,
      charged_micro: -entry.amount,
      shortfall_micro: shortfall,
    };
  }

  /**
   * Starts an operation that spans several calls (an AI ask) under the caller's idempotency key:
   * `new` with the `nonce` its charge ids must derive from (never from the key: a key reused after
   * its record was pruned is a new operation and must be billed), or `replay` with the stored answer;
   * `conflict` while the first is in flight (`retry_after`: seconds until its lease is up) and
   * `idempotency_mismatch` for a different request under the same key. `leaseSeconds` (at least ten
   * minutes are kept) is the longest the operation may run: until then an attempt in flight is
   * never taken over.
   */
  async beginOperation(
    identity: Identity,
    key: string,
    fingerprint: string,
    _ctx: CallContext,
    options: { leaseSeconds?: number } = {},
  ): Promise<{ state: "new"; nonce: string } | { state: "replay"; response: string }> {
    const { leaseSeconds } = options;
    if (
      leaseSeconds !== undefined &&
      !(Number.isInteger(leaseSeconds) && leaseSeconds >= 1 && leaseSeconds * 1000 <= MAX_IN_FLIGHT_LEASE_MS)
    )
      throw new ServiceError("invalid_input", `a lease is 1 to ${MAX_IN_FLIGHT_LEASE_MS / 1000} seconds`);
    return unwrap(
      await this.ledger(identity.sub).beginIdempotent(
        identity.sub,
        key,
        fingerprint,
        Date.now(),
        leaseSeconds === undefined ? undefined : leaseSeconds * 1000,
      ),
    );
  }

  /** Stores an operation's answer so a retry with the same key replays it. */
  async completeOperation(identity: Identity, key: string, response: string, _ctx: CallContext): Promise<void> {
    await this.ledger(identity.sub).completeIdempotent(key, response);
  }

  /** Forgets a failed operation so the key can be retried. */
  async abandonOperation(identity: Identity, key: string, _ctx: CallContext): Promise<void> {
    await this.ledger(identity.sub).abandonIdempotent(key);
  }

  /**
   * Opens or grows an allowance: credits an SI instance may hold calls against, or request slots
   * of the current minute a gateway isolate counts requests from, without a round trip each (see
   * AccountLedger.openAllowance). A grant of slots also carries `credits`, what `overview` would
   * return, from the same transaction. 402 when even `min_micro` is not free, 429 over the
   * per-minute or daily limit.
   */
  async openAllowance(identity: Identity, request: AllowanceRequest, ctx: CallContext): Promise<AllowanceGrant> {
    checkChargeId(request.id, "an allowance id");
    for (const [name, value] of [
      ["min_micro", request.min_micro],
      ["want_micro", request.want_micro],
      ["want_slots", request.want_slots],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0)
        throw new ServiceError("invalid_input", `${name} must be a whole number ≥ 0`);
    }
    if (!Number.isInteger(request.ttl_seconds) || request.ttl_seconds < 1 || request.ttl_seconds > 3600)
      throw new ServiceError("invalid_input", "an allowance lives 1 to 3600 seconds");
    const result = await this.ledger(identity.sub).openAllowance(
      identity.sub,
      request,
      this.ledgerCall(ctx, identity.sub),
    );
    if (!result.ok && result.details?.limits) result.details.limits = limitView(result.details.limits as LimitSnapshot);
    const { account, ...grant } = unwrap(result);
    return {
      ...grant,
      limits: limitView(grant.limits),
      ...(account ? { credits: creditsView(account) } : {}),
    };
  }

  /**
   * Charges calls made against an allowance, one ledger entry and one usage event (source `si`)
   * each; a draw settled before is not charged again. With `release`, the allowance closes and its
   * unused credits and request slots are freed.
   */
  async settleAllowance(
    identity: Identity,
    allowanceId: string,
    draws: AllowanceDraw[],
    release: { unusedSlots: number } | null,
    ctx: CallContext,
  ): Promise<AllowanceSettlement> {
    checkChargeId(allowanceId, "an allowance id");
    if (!Array.isArray(draws) || draws.length > MAX_DRAWS_PER_SETTLEMENT)
      throw new ServiceError("invalid_input", `at most ${MAX_DRAWS_PER_SETTLEMENT} draws per settlement`);
    for (const draw of draws) {
      checkChargeId(draw.id, "a draw id");
      if (!Number.isSafeInteger(draw.cost_micro) || draw.cost_micro < 0)
        throw new ServiceError("invalid_input", "a cost must be a whole number of micro-credits ≥ 0");
      if (typeof draw.request_id !== "string" || draw.request_id.length === 0 || draw.request_id.length > 128)
        throw new ServiceError("invalid_input", "a draw's request id is 1-128 characters");
      if (draw.at !== undefined && !Number.isSafeInteger(draw.at))
        throw new ServiceError("invalid_input", "a draw's time is whole milliseconds");
      if (draw.usage !== undefined) checkUsage(draw.usage);
    }
    const settlement = unwrap(
      await this.ledger(identity.sub).settleAllowance(allowanceId, draws, release, this.ledgerCall(ctx, identity.sub)),
    );
    return { ...settlement, limits: limitView(settlement.limits) };
  }

  /** Releases a hold without charging (the call failed before it cost anything). */
  async void(identity: Identity, holdId: string, ctx: CallContext): Promise<HoldView> {
    return holdView(unwrap(await this.ledger(identity.sub).release(holdId, this.ledgerCall(ctx, identity.sub))));
  }

  /** The caller's ledger entries, newest first, paged by an opaque cursor. */
  async history(
    identity: Identity,
    query: unknown,
    _ctx: CallContext,
  ): Promise<{ entries: LedgerEntryView[]; cursor: string | null }> {
    const { limit = 50, cursor } = parseInput(PageQuery, query ?? {});
    const before = cursor === undefined ? null : Number(cursor);
    if (before !== null && !(Number.isSafeInteger(before) && before > 0)) {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }
    const page = unwrap(await this.ledger(identity.sub).history(before, limit));
    return { entries: page.entries.map(entryView), cursor: page.next === null ? null : String(page.next) };
  }

  /** Admin: sets a tenant's own limits (`null` returns one to the default). */
  async setLimits(account: string, input: unknown, identity: Identity, _ctx: CallContext): Promise<LimitState> {
    requireAdmin(identity);
    const key = accountKey(account);
    const body = parseInput(LimitsRequest, input);
    return limitView(unwrap(await this.ledger(key).setLimits(body.rpm, body.daily_credits, Date.now())));
  }

  // ---- usage ---------------------------------------------------------------------------------

  /**
   * Records a usage event the client reports (`POST /api/billing/usage`), stamped with the server's
   * time and request id. With an idempotency key a retry returns the first event; a concurrent
   * duplicate is `conflict` and a different body under the same key `idempotency_mismatch`.
   */
  async reportUsage(
    identity: Identity,
    input: unknown,
    idempotencyKey: unknown,
    ctx: CallContext,
  ): Promise<UsageEvent> {
    const body = parseInput(UsageReport, input);
    const clientKey = clientIdempotencyKey(idempotencyKey);
    const ledger = this.ledger(identity.sub);
    const key = `usage:${clientKey}`;
    const record: OperationRecord | undefined =
      clientKey === null
        ? undefined
        : {
            begin: async (fingerprint) =>
              unwrap(await ledger.beginIdempotent(identity.sub, key, fingerprint, Date.now())),
            complete: async (response) => {
              await ledger.completeIdempotent(key, response);
            },
            abandon: async () => {
              await ledger.abandonIdempotent(key);
            },
          };
    return runOnce(record, () => JSON.stringify(body), {
      replay: (response) => JSON.parse(response) as UsageEvent,
      answer: (event) => JSON.stringify(event),
      run: () =>
        recordUsage(
          this.env.KV_BILLING,
          {
            id: crypto.randomUUID(),
            account: identity.sub,
            at: Date.now(),
            requestId: ctx.requestId,
            tokensIn: body.tokens_in,
            tokensOut: body.tokens_out,
            provider: body.provider,
            model: body.model,
            creditsMicro: body.credits ?? 0,
            source: "client",
          },
          usageTtlSeconds(this.env),
        ),
    });
  }

  /**
   * Admin: deletes usage events older than `USAGE_TTL_DAYS` that KV has not expired by itself (for
   * example written before the TTL was shortened), under the accounts' keys and the hour index
   * alike. Scans at most 5,000 keys per call.
   */
  async pruneUsage(identity: Identity, _ctx: CallContext): Promise<{ deleted: number; complete: boolean }> {
    requireAdmin(identity);
    const cutoff = Date.now() - usageTtlSeconds(this.env) * 1000;
    let deleted = 0;
    let scanned = 0;
    for (const prefix of ["usage:", HOUR_INDEX_PREFIX]) {
      let cursor: string | undefined;
      do {
        const page = await this.env.KV_BILLING.list({ prefix, limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const key of page.keys) {
          scanned += 1;
          const at = newestEventAt(key.metadata);
          if (Number.isNaN(at) || at < cutoff) {
            await this.env.KV_BILLING.delete(key.name);
            deleted += 1;
          }
        }
        cursor = page.list_complete || scanned >= 5000 ? undefined : page.cursor;
      } while (cursor);
      if (scanned >= 5000) return { deleted, complete: false };
    }
    return { deleted, complete: true };
  }

  /**
   * The usage events of one UTC hour for every account (`hour`: its start, ISO or epoch ms), one page
   * at a time, read by the hour's index keys rather than by scanning KV: for the analytics rollup.
   * `cursor` (null for the first page) is the previous page's; a page may be short, even empty, with
   * a cursor, and the last one has `cursor: null`.
   */
  async usageForHour(hour: unknown, cursor: string | null, _ctx: CallContext): Promise<HourUsagePage> {
    if (cursor !== null && (typeof cursor !== "string" || cursor.length > 4000))
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    return usageForHour(this.env.KV_BILLING, parseHour(hour), cursor);
  }

  /** The caller's usage events between `from` and `to` (default: the last 24 h), oldest first. */
  async listUsage(
    identity: Identity,
    query: unknown,
    _ctx: CallContext,
  ): Promise<{ events: UsageEvent[]; cursor: string | null }> {
    const parsed = parseInput(UsageQuery, query ?? {});
    const to = parsed.to ?? Date.now();
    const from = parsed.from ?? to - 86_400_000;
    return listUsage(this.env.KV_BILLING, identity.sub, from, to, parsed.limit ?? 50, parsed.cursor);
  }

  private async currentKeyOrUndefined() {
    try {
      return await signingKey(this.env);
    } catch (error) {
      if (error instanceof ServiceError && error.code === "not_configured") return undefined;
      throw error;
    }
  }

  private async publishCurrentKey(): Promise<void> {
    const key = await this.currentKeyOrUndefined();
    if (key) await ensurePublished(this.env.KEYS, key);
  }
}

export { AccountLedger } from "./ledger";

/** Internal workers have no HTTP surface. */
/** What other workers bind to (`"entrypoint": "BillingEntrypoint"`): BillingService, answering refusals as values. */
export const BillingEntrypoint = refusingEntrypoint<BillingEnv, typeof BillingService>(BillingService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<BillingEnv>;
