import { WorkerEntrypoint } from "cloudflare:workers";
import {
  type CallContext,
  type GuestToken,
  GuestTokenRequest,
  type Identity,
  type Jwks,
  type PublicJwk,
  type PublishedKeyInfo,
  PublishKeyRequest,
  parseInput,
  ServiceError,
  type TokenVerificationConfig,
} from "@cognomega/shared";
import { JWKS_MAX_AGE_SECONDS, tokenSettings } from "./config";
import { ensurePublished, listPublishedKeys, publishedJwks, publishKey, retireKey, signingKey } from "./keys";
import { signGuestToken } from "./tokens";

function requireAdmin(identity: Identity): void {
  if (!identity.admin) throw new ServiceError("forbidden", "admin only");
}

/**
 * Tokens, JWKS and (later) the credits ledger. Reached only over the gateway's service binding;
 * every method takes the caller's request context as its last argument.
 */
export class BillingService extends WorkerEntrypoint<Env> {
  /** Liveness for the gateway's `/ready`: proves the worker runs and its KV answers. */
  async health(): Promise<{ service: "billing"; ok: true }> {
    await this.env.KEYS.get("jwks");
    return { service: "billing", ok: true };
  }

  /** Issues an RS256 guest token (`POST /auth/guest`). `input` is the unvalidated request body. */
  async issueGuestToken(input: unknown, _ctx: CallContext): Promise<GuestToken> {
    const body = parseInput(GuestTokenRequest, input ?? {});
    const settings = tokenSettings(this.env);
    const key = await signingKey(this.env);
    await ensurePublished(this.env.KEYS, key);
    return signGuestToken(key, settings, body.email?.toLowerCase());
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

/** Internal workers have no HTTP surface. */
export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<Env>;
