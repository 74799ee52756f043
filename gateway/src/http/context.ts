import type { CallContext, CreditsView, Identity, LimitState, Meter } from "@cognomega/shared";
import { ADMIN_IDENTITY, clientIdempotencyKey, ServiceError } from "@cognomega/shared";
import { GATEWAY_SETTINGS } from "../settings";
import { type AdminCheck, assertAdmin, checkAdmin } from "./admin";
import { readJson } from "./body";
import { resolveIdentity } from "./identity";
import { VerifiedTokens, verifyToken } from "./jwt";
import { VerificationKeyCache } from "./key-cache";
import { RequestSlots } from "./request-slots";

// One cache per isolate: verifying a token needs no RPC while the snapshot is fresh.
const verificationKeys = new VerificationKeyCache();
const verifiedTokens = new VerifiedTokens();
// Per isolate: the request slots each signed-in account's ledger granted this instance.
const requestSlots = new RequestSlots();

/**
 * Everything a route handler needs about one request. Admin status and identity are computed on
 * first use and remembered, so routes that need neither pay for neither.
 */
export class RequestContext {
  readonly call: CallContext;
  /** Billing facts the handler learned; the gateway turns them into headers. */
  meter: Meter | undefined;
  /** The caller's limits after admitting this request; the gateway turns them into headers. */
  limits: LimitState | undefined;
  /** `iat` (seconds) of the Bearer token this request was verified with, when it had one. */
  tokenIssuedAt: number | undefined;
  private adminCheck: Promise<AdminCheck> | undefined;
  private resolved: Promise<Identity | undefined> | undefined;
  /** The caller's balance and holds, when counting this request took a ledger call that read them. */
  private countedCredits: CreditsView | undefined;

  constructor(
    readonly request: Request,
    readonly env: GatewayEnv,
    readonly exec: ExecutionContext,
    readonly url: URL,
    readonly requestId: string,
  ) {
    this.call = { requestId };
  }

  /**
   * The request's `Idempotency-Key`: null without one, else checked by the one rule every route
   * shares (400 `invalid_input` for a malformed key, whichever route it was sent to).
   */
  idempotencyKey(): string | null {
    return clientIdempotencyKey(this.request.headers.get("Idempotency-Key"));
  }

  /**
   * The request's key in the client namespace (`user:<key>`), for workers that also take keys of
   * their own (jobs' asks), so a client's key can never collide with one of those.
   */
  scopedIdempotencyKey(): string | null {
    const key = this.idempotencyKey();
    return key === null ? null : `user:${key}`;
  }

  /** The admin header check, memoised. */
  admin(): Promise<AdminCheck> {
    this.adminCheck ??= checkAdmin(this.request, this.env);
    return this.adminCheck;
  }

  /** Throws 401/403/503 unless the request carries a valid admin key. */
  async requireAdmin(): Promise<Identity> {
    assertAdmin(await this.admin(), this.env);
    return { ...ADMIN_IDENTITY };
  }

  /**
   * The caller, or undefined when anonymous. A bad token is still a 401. Every request of a
   * signed-in user is counted here, once, against their per-minute limit (429 over it), before
   * the route reads its input: routes resolve the caller first. An admin's requests are not
   * counted. This is the only place requests are counted.
   */
  async optionalIdentity(): Promise<Identity | undefined> {
    this.resolved ??= this.admin().then(async (check) => {
      const settings = GATEWAY_SETTINGS.read(this.env);
      const identity = await resolveIdentity({
        url: this.url,
        request: this.request,
        admin: check === "valid",
        trustEmail: settings.TRUST_EMAIL_IDENTITY,
        verify: async (token) => {
          const claims = await verifyToken(
            token,
            verificationKeys,
            settings.JWKS_CACHE_TTL_SECONDS * 1000,
            () => this.env.BILLING.tokenVerification(this.call),
            verifiedTokens,
          );
          if (typeof claims.iat === "number" && Number.isFinite(claims.iat)) this.tokenIssuedAt = claims.iat;
          return claims;
        },
      });
      if (identity && !identity.admin) {
        const admission = await requestSlots.account(identity.sub).take({
          billing: this.env.BILLING,
          identity,
          call: this.call,
          waitUntil: (promise) => this.exec.waitUntil(promise),
        });
        this.limits = admission.limits;
        this.countedCredits = admission.credits;
      }
      return identity;
    });
    return this.resolved;
  }

  /** The caller; 401 when anonymous. */
  async identity(): Promise<Identity> {
    const identity = await this.optionalIdentity();
    if (!identity)
      throw new ServiceError(
        "unauthenticated",
        "sign in: send `Authorization: Bearer <token>` (POST /auth/guest issues one)",
      );
    return identity;
  }

  /**
   * The caller's balance, reservations and open holds, with the limits for the headers, in one
   * ledger round trip however the request was counted: when counting it needed a grant of slots (a
   * new or returning account, idle for 2 s), that grant read them in the same transaction, else one
   * `overview` call does. So a UI polling its balance every few seconds costs one call a poll.
   * (Rather than keeping an idle isolate's slots so a returning user finds one: slots held unused
   * are lost to the account's other isolates for the rest of the minute, which is what small grants
   * and giving back when idle are there to prevent.)
   */
  async credits(): Promise<CreditsView> {
    const identity = await this.identity();
    if (this.countedCredits) return this.countedCredits;
    const { credits, limits } = await this.env.BILLING.overview(identity, this.call);
    this.noteLimits(identity, limits);
    return credits;
  }

  /**
   * The caller's limits after counting this request. When counting it took a ledger call, that
   * call read them in the same transaction, so no second call is made.
   */
  async currentLimits(): Promise<LimitState> {
    const identity = await this.identity();
    if (this.countedCredits && this.limits) return this.limits;
    const limits = await this.env.BILLING.limits(identity, this.call);
    return this.noteLimits(identity, limits) ?? limits;
  }

  /**
   * Limits from a ledger answer newer than the one this request was counted with (a route that
   * read them, SI's view of the daily credits after an ask): for this answer's headers and the
   * next ones. The result, like every view here, counts slots this isolate holds as available.
   */
  noteLimits(identity: Identity, fresh: Partial<LimitState>): LimitState | undefined {
    if (!this.limits) return undefined;
    this.limits = requestSlots.note(identity.sub, fresh) ?? { ...this.limits, ...fresh };
    return this.limits;
  }

  /** The JSON body, capped at `MAX_JSON_BYTES`. */
  json(): Promise<unknown> {
    return readJson(this.request, GATEWAY_SETTINGS.read(this.env).MAX_JSON_BYTES);
  }
}
