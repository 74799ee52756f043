import type { Jwks, PublicJwk, PublishedKeyInfo } from "@cognomega/shared";
import { logEvent, ServiceError } from "@cognomega/shared";
import { exportJWK, generateKeyPair, importJWK, importPKCS8, importSPKI, type JWK } from "jose";
import { BILLING_SETTINGS } from "./settings";

/** KV `KEYS` entries. `jwks` is the public document; the others are never served. */
const JWKS_KEY = "jwks";
const META_KEY = "jwks_meta";
const DEV_KEY = "dev_signing_key";

/** The key tokens are signed with now, and its public half as published. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: PublicJwk;
}

/** Rotation bookkeeping per kid, kept beside the JWKS. */
interface KeyMeta {
  published_at: string;
  signing_since?: string;
}
type MetaDoc = Record<string, KeyMeta>;

// Importing a PEM costs a few milliseconds: do it once per isolate and per secret value.
let signingKeyCache: { source: string; key: Promise<SigningKey> } | undefined;
// When this isolate last saw each kid in the stored JWKS: publishing costs one KV read per minute,
// and a JWKS lost from KV is repaired within that minute.
const knownPublished = new Map<string, number>();
const PUBLISHED_RECHECK_MS = 60_000;

function toPublicJwk(jwk: JWK, kid: string): PublicJwk {
  if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") {
    throw new ServiceError("not_configured", "the signing key must be an RSA key");
  }
  return { kty: "RSA", kid, n: jwk.n, e: jwk.e, alg: "RS256", use: "sig" };
}

async function importConfiguredKey(pem: string, kid: string): Promise<SigningKey> {
  let extractable: CryptoKey;
  try {
    extractable = await importPKCS8(pem, "RS256", { extractable: true });
  } catch {
    // Never echo the secret, not even a prefix of it.
    throw new ServiceError("not_configured", "PRIVATE_KEY_PEM is not a PKCS#8 RSA private key");
  }
  const publicJwk = toPublicJwk(await exportJWK(extractable), kid);
  const privateKey = await importPKCS8(pem, "RS256");
  return { kid, privateKey, publicJwk };
}

async function loadDevelopmentKey(keys: KVNamespace): Promise<SigningKey> {
  const stored = await keys.get<{ kid: string; jwk: JWK }>(DEV_KEY, "json");
  if (stored) {
    const privateKey = (await importJWK(stored.jwk, "RS256")) as CryptoKey;
    return { kid: stored.kid, privateKey, publicJwk: toPublicJwk(stored.jwk, stored.kid) };
  }
  const pair = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(pair.privateKey);
  const kid = `dev-${crypto.randomUUID().slice(0, 8)}`;
  await keys.put(DEV_KEY, JSON.stringify({ kid, jwk }));
  logEvent("warn", "no PRIVATE_KEY_PEM/KID configured: generated a development signing key and stored it in KV KEYS", {
    kid,
  });
  return { kid, privateKey: pair.privateKey, publicJwk: toPublicJwk(jwk, kid) };
}

/**
 * The current signing key: the `PRIVATE_KEY_PEM` + `KID` secrets, or in development a key pair
 * generated once and kept in KV. Production without secrets fails with `not_configured`.
 */
export function signingKey(env: BillingEnv): Promise<SigningKey> {
  const { PRIVATE_KEY_PEM: pem, KID: kid, ENVIRONMENT } = BILLING_SETTINGS.read(env);
  const source = pem && kid ? `${kid}\n${pem}` : pem || kid ? "partial" : "development";
  if (signingKeyCache?.source === source) return signingKeyCache.key;

  let key: Promise<SigningKey>;
  if (pem && kid) key = importConfiguredKey(pem, kid);
  else if (pem || kid)
    key = Promise.reject(new ServiceError("not_configured", "PRIVATE_KEY_PEM and KID must be set together"));
  else if (ENVIRONMENT !== "production") key = loadDevelopmentKey(env.KEYS);
  else
    key = Promise.reject(
      new ServiceError("not_configured", "token signing is not configured: set the PRIVATE_KEY_PEM and KID secrets"),
    );

  // A failure is not cached: the next call retries (the secret may have been fixed).
  const entry = { source, key };
  signingKeyCache = entry;
  key.catch(() => {
    if (signingKeyCache === entry) signingKeyCache = undefined;
  });
  return key;
}

async function readJwks(keys: KVNamespace): Promise<Jwks> {
  const doc = await keys.get<Jwks>(JWKS_KEY, "json");
  return doc && Array.isArray(doc.keys) ? doc : { keys: [] };
}

async function readMeta(keys: KVNamespace): Promise<MetaDoc> {
  return (await keys.get<MetaDoc>(META_KEY, "json")) ?? {};
}

/**
 * Makes sure the signing key's public half is in the JWKS and that its `signing_since` is recorded
 * (the start of the overlap window that guards retiring the previous key).
 */
export async function ensurePublished(keys: KVNamespace, key: SigningKey): Promise<void> {
  const checkedAt = knownPublished.get(key.kid);
  if (checkedAt !== undefined && Date.now() - checkedAt < PUBLISHED_RECHECK_MS) return;
  const [jwks, meta] = await Promise.all([readJwks(keys), readMeta(keys)]);
  const now = new Date().toISOString();
  let changed = false;
  if (!jwks.keys.some((k) => k.kid === key.kid)) {
    jwks.keys.push(key.publicJwk);
    await keys.put(JWKS_KEY, JSON.stringify(jwks));
    changed = true;
  }
  const entry = meta[key.kid] ?? { published_at: now };
  if (!entry.signing_since) {
    meta[key.kid] = { ...entry, signing_since: now };
    changed = true;
  }
  if (changed) await keys.put(META_KEY, JSON.stringify(meta));
  knownPublished.set(key.kid, Date.now());
}

/** The public key set as stored. */
export function publishedJwks(keys: KVNamespace): Promise<Jwks> {
  return readJwks(keys);
}

/** Every published key with its rotation facts. */
export async function listPublishedKeys(
  keys: KVNamespace,
  signingKid: string | undefined,
): Promise<PublishedKeyInfo[]> {
  const [jwks, meta] = await Promise.all([readJwks(keys), readMeta(keys)]);
  return jwks.keys.map((k) => {
    const info: PublishedKeyInfo = {
      kid: k.kid,
      published_at: meta[k.kid]?.published_at ?? "unknown",
      signing: k.kid === signingKid,
    };
    const since = meta[k.kid]?.signing_since;
    if (since) info.signing_since = since;
    return info;
  });
}

/** Adds a public key (SPKI PEM) to the JWKS ahead of switching the signing key to it. */
export async function publishKey(keys: KVNamespace, kid: string, publicKeyPem: string): Promise<PublicJwk> {
  let jwk: JWK;
  try {
    jwk = await exportJWK(await importSPKI(publicKeyPem, "RS256", { extractable: true }));
  } catch {
    throw new ServiceError("invalid_input", "public_key_pem is not an RSA public key in SPKI PEM form", {
      issues: [{ path: "public_key_pem", message: "not an RSA SPKI public key" }],
    });
  }
  const publicJwk = toPublicJwk(jwk, kid);
  const [jwks, meta] = await Promise.all([readJwks(keys), readMeta(keys)]);
  const existing = jwks.keys.find((k) => k.kid === kid);
  if (existing) {
    if (existing.n === publicJwk.n && existing.e === publicJwk.e) return existing;
    throw new ServiceError("conflict", `kid ${kid} is already published with a different key`);
  }
  jwks.keys.push(publicJwk);
  meta[kid] = { published_at: new Date().toISOString() };
  await keys.put(JWKS_KEY, JSON.stringify(jwks));
  await keys.put(META_KEY, JSON.stringify(meta));
  return publicJwk;
}

/**
 * Removes a key from the JWKS. The signing key can never be retired. Without `force`, a key that
 * has signed tokens stays until every token it signed has expired and every cached JWKS has
 * refreshed: `signing_since(current) + token TTL + JWKS max-age`. `force` is for a compromised key.
 */
export async function retireKey(
  keys: KVNamespace,
  kid: string,
  signing: SigningKey | undefined,
  overlapSeconds: number,
  force: boolean,
): Promise<void> {
  if (signing && signing.kid === kid) {
    throw new ServiceError("conflict", `kid ${kid} is the current signing key; switch KID first`);
  }
  const [jwks, meta] = await Promise.all([readJwks(keys), readMeta(keys)]);
  if (!jwks.keys.some((k) => k.kid === kid)) throw new ServiceError("not_found", `kid ${kid} is not published`);
  // A key that never signed here has no tokens to protect; one that did keeps the overlap.
  if (!force && signing && meta[kid]?.signing_since) {
    const since = Date.parse(meta[signing.kid]?.signing_since ?? "");
    const safeAt = (Number.isNaN(since) ? Date.now() : since) + overlapSeconds * 1000;
    if (Date.now() < safeAt) {
      const retryAfter = Math.ceil((safeAt - Date.now()) / 1000);
      throw new ServiceError(
        "conflict",
        `tokens signed with ${kid} may still be valid; retire it after ${new Date(safeAt).toISOString()} or use force`,
        { retry_after: retryAfter },
      );
    }
  }
  jwks.keys = jwks.keys.filter((k) => k.kid !== kid);
  delete meta[kid];
  knownPublished.delete(kid);
  await keys.put(JWKS_KEY, JSON.stringify(jwks));
  await keys.put(META_KEY, JSON.stringify(meta));
}
