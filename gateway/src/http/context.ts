import type { CallContext, Identity, LimitState, Meter } from "@cognomega/shared";
import { ServiceError } from "@cognomega/shared";
import { type AdminCheck, assertAdmin, checkAdmin } from "./admin";
import { maxJsonBytes, readJson } from "./body";
import { resolveIdentity, trustsEmailIdentity } from "./identity";
import { VerifiedTokens, verifyToken } from "./jwt";
import { VerificationKeyCache } from "./key-cache";
import { RequestSlots } from "./request-slots";

// One cache per isolate: verifying a token needs no RPC while the snapshot is fresh.
const verificationKeys = new VerificationKeyCache();
const verifiedTokens = new VerifiedTokens();
// Per isolate: the request slots each signed-in account's ledger granted this instance.
const requestSlots = new RequestSlots();

function jwksCacheTtlMs(env: GatewayEnv): number {
  const seconds = Number(env.JWKS_CACHE_TTL_SECONDS);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 60_000;
}

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
  private adminCheck: Promise<AdminCheck> | undefined;
  private resolved: Promise<Identity | undefined> | undefined;

  constructor(
    readonly request: Request,
    readonly env: GatewayEnv,
    readonly exec: ExecutionContext,
    readonly url: URL,
    readonly requestId: string,
  ) {
    this.call = { requestId };
  }

  /** The admin header check, memoised. */
  admin(): Promise<AdminCheck> {
    this.adminCheck ??= checkAdmin(this.request, this.env);
    return this.adminCheck;
  }

  /** Throws 401/403/503 unless the request carries a valid admin key. */
  async requireAdmin(): Promise<Identity> {
    assertAdmin(await this.admin(), this.env);
    return { sub: "admin", source: "admin", admin: true };
  }

  /**
   * The caller, or undefined when anonymous. A bad token is still a 401. Every request of a
   * signed-in user is counted here, once, against their per-minute limit (429 over it), before
   * the route reads its input: routes resolve the caller first. An admin's requests are not
   * counted. This is the only place requests are counted.
   */
  async optionalIdentity(): Promise<Identity | undefined> {
    this.resolved ??= this.admin().then(async (check) => {
      const identity = await resolveIdentity({
        url: this.url,
        request: this.request,
        admin: check === "valid",
        trustEmail: trustsEmailIdentity(this.env),
        verify: (token) =>
          verifyToken(
            token,
            verificationKeys,
            jwksCacheTtlMs(this.env),
            () => this.env.BILLING.tokenVerification(this.call),
            verifiedTokens,
          ),
      });
      if (identity && !identity.admin) {
        this.limits = await requestSlots.account(identity.sub).take({
          billing: this.env.BILLING,
          identity,
          call: this.call,
          waitUntil: (promise) => this.exec.waitUntil(promise),
        });
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
    return readJson(this.request, maxJsonBytes(this.env.MAX_JSON_BYTES));
  }
}
