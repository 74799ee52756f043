import type { PublicJwk, TokenVerificationConfig } from "@cognomega/shared";
import { importJWK } from "jose";

/** The verification facts one snapshot of the JWKS gives, with imported keys kept per kid. */
export interface VerificationSnapshot {
  issuer: string;
  audience: string;
  key(kid: string): Promise<CryptoKey> | undefined;
}

/** An unknown kid triggers at most one refresh per this many milliseconds. */
export const MIN_REFRESH_MS = 1000;

interface Loaded {
  at: number;
  issuer: string;
  audience: string;
  jwks: Map<string, PublicJwk>;
  imported: Map<string, Promise<CryptoKey>>;
}

/**
 * Caches the billing worker's JWKS in the isolate so verifying a token costs no RPC. A snapshot
 * lives `ttlMs`; a token naming an unknown kid forces one early refresh (rate-limited), which is
 * how a newly published key becomes usable before the TTL runs out. Loads are single-flight.
 */
export class VerificationKeyCache {
  private loaded: Loaded | undefined;
  private inflight: Promise<Loaded> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  async lookup(
    kid: string,
    ttlMs: number,
    load: () => Promise<TokenVerificationConfig>,
  ): Promise<{ key: Promise<CryptoKey> | undefined; issuer: string; audience: string }> {
    let snapshot = this.loaded;
    if (!snapshot || this.now() - snapshot.at >= ttlMs) snapshot = await this.refresh(load);
    else if (!snapshot.jwks.has(kid) && this.now() - snapshot.at >= MIN_REFRESH_MS) snapshot = await this.refresh(load);
    return { key: this.importKey(snapshot, kid), issuer: snapshot.issuer, audience: snapshot.audience };
  }

  private importKey(snapshot: Loaded, kid: string): Promise<CryptoKey> | undefined {
    const cached = snapshot.imported.get(kid);
    if (cached) return cached;
    const jwk = snapshot.jwks.get(kid);
    if (!jwk) return undefined;
    const imported = importJWK(jwk, "RS256") as Promise<CryptoKey>;
    snapshot.imported.set(kid, imported);
    return imported;
  }

  private refresh(load: () => Promise<TokenVerificationConfig>): Promise<Loaded> {
    if (this.inflight) return this.inflight;
    const previous = this.loaded;
    const pending = load()
      .then((config): Loaded => {
        const jwks = new Map(config.jwks.keys.map((k) => [k.kid, k] as const));
        const imported = new Map<string, Promise<CryptoKey>>();
        // Keep already-imported keys whose JWK did not change.
        for (const [kid, key] of previous?.imported ?? []) {
          const before = previous?.jwks.get(kid);
          const after = jwks.get(kid);
          if (before && after && before.n === after.n && before.e === after.e) imported.set(kid, key);
        }
        const next = { at: this.now(), issuer: config.issuer, audience: config.audience, jwks, imported };
        this.loaded = next;
        return next;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    this.inflight = pending;
    return pending;
  }
}
