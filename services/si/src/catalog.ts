import {
  creditsToMicro,
  logEvent,
  MODEL_ID_MAX_LENGTH,
  PROVIDERS,
  type ProviderId,
  parseInput,
  ServiceError,
  TIERS,
  type Tier,
  tokenCost,
  usdPerMToMicroPerM,
} from "@cognomega/shared";
import * as v from "valibot";

/** One model as configured: the shape of the default catalog and of an admin's override in KV. */
export const CatalogEntry = v.strictObject({
  // Billing records each charge's model under the same limit: a longer id would fail every settlement.
  id: v.pipe(
    v.string(),
    v.maxLength(MODEL_ID_MAX_LENGTH, `id must be at most ${MODEL_ID_MAX_LENGTH} characters`),
    v.regex(/^[a-z0-9][a-z0-9._/-]*$/, "id must be lower-case [a-z0-9._/-]"),
  ),
  provider: v.picklist(PROVIDERS),
  provider_model: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  /** US dollars per one million tokens, as providers publish them (at most 6 decimals). */
  price_in_usd_per_m: v.pipe(
    v.number(),
    v.minValue(0),
    v.check((n) => creditsToMicro(n) !== undefined, "at most 6 decimals"),
  ),
  price_out_usd_per_m: v.pipe(
    v.number(),
    v.minValue(0),
    v.check((n) => creditsToMicro(n) !== undefined, "at most 6 decimals"),
  ),
  context_window: v.pipe(v.number(), v.integer(), v.minValue(256)),
  tier: v.picklist(TIERS),
  capabilities: v.array(v.picklist(["chat", "json", "stream"])),
});
export type CatalogEntry = v.InferOutput<typeof CatalogEntry>;
export const CatalogDocument = v.pipe(v.array(CatalogEntry), v.minLength(1), v.maxLength(200));

/** A model ready for routing: prices in integer micro-credits per million tokens. */
export interface CatalogModel {
  id: string;
  provider: ProviderId;
  providerModel: string;
  priceInPerM: number;
  priceOutPerM: number;
  contextWindow: number;
  tier: Tier;
  capabilities: ReadonlySet<string>;
}

// Model ids retire (several did in 2026), so this list is data: an admin replaces it in KV
// (`PUT /api/admin/catalog`) without a deploy. Prices: provider list prices in USD per 1M tokens
// as of 2026-11, from the providers' pricing pages; Groq's Llama models were retired on 2026-08-16 and are not here.
export const DEFAULT_CATALOG: CatalogEntry[] = [
  {
    id: "workers-ai/llama-3.1-8b-instruct-fp8-fast",
    provider: "workers-ai",
    provider_model: "@cf/meta/llama-3.1-8b-instruct-fp8-fast",
    price_in_usd_per_m: 0.045,
    price_out_usd_per_m: 0.384,
    context_window: 8_000,
    tier: "small",
    capabilities: ["chat", "stream"],
  },
  {
    id: "workers-ai/llama-3.3-70b-instruct-fp8-fast",
    provider: "workers-ai",
    provider_model: "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    price_in_usd_per_m: 0.293,
    price_out_usd_per_m: 2.253,
    context_window: 24_000,
    tier: "large",
    capabilities: ["chat", "json", "stream"],
  },
  {
    id: "groq/gpt-oss-20b",
    provider: "groq",
    provider_model: "openai/gpt-oss-20b",
    price_in_usd_per_m: 0.075,
    price_out_usd_per_m: 0.3,
    context_window: 131_072,
    tier: "medium",
    capabilities: ["chat", "json", "stream"],
  },
  {
    id: "groq/gpt-oss-120b",
    provider: "groq",
    provider_model: "openai/gpt-oss-120b",
    price_in_usd_per_m: 0.15,
    price_out_usd_per_m: 0.6,
    context_window: 131_072,
    tier: "large",
    capabilities: ["chat", "json", "stream"],
  },
  {
    id: "openai/gpt-4.1-nano",
    provider: "openai",
    provider_model: "gpt-4.1-nano",
    price_in_usd_per_m: 0.1,
    price_out_usd_per_m: 0.4,
    context_window: 1_047_576,
    tier: "small",
    capabilities: ["chat", "json", "stream"],
  },
  {
    id: "openai/gpt-4.1-mini",
    provider: "openai",
    provider_model: "gpt-4.1-mini",
    price_in_usd_per_m: 0.4,
    price_out_usd_per_m: 1.6,
    context_window: 1_047_576,
    tier: "medium",
    capabilities: ["chat", "json", "stream"],
  },
  {
    id: "openai/gpt-4o",
    provider: "openai",
    provider_model: "gpt-4o",
    price_in_usd_per_m: 2.5,
    price_out_usd_per_m: 10,
    context_window: 128_000,
    tier: "large",
    capabilities: ["chat", "json", "stream"],
  },
];

const CATALOG_KEY = "catalog";
const CACHE_MS = 30_000;
let cached: { at: number; source: string; models: CatalogModel[] } | undefined;

/** Converts validated entries to routable models with exact integer prices. */
export function toModels(entries: CatalogEntry[], creditsPerUsd: number): CatalogModel[] {
  const seen = new Set<string>();
  return entries.map((entry) => {
    if (seen.has(entry.id)) throw new ServiceError("invalid_input", `duplicate model id ${entry.id}`);
    seen.add(entry.id);
    return {
      id: entry.id,
      provider: entry.provider,
      providerModel: entry.provider_model,
      // micro-USD per M × credits per USD = micro-credits per M: exact integers.
      priceInPerM: usdPerMToMicroPerM(entry.price_in_usd_per_m, creditsPerUsd) as number,
      priceOutPerM: usdPerMToMicroPerM(entry.price_out_usd_per_m, creditsPerUsd) as number,
      contextWindow: entry.context_window,
      tier: entry.tier,
      capabilities: new Set(entry.capabilities),
    };
  });
}

/** The catalog in force: an admin's override from KV, else the default. Cached 30 s per isolate. */
export async function loadCatalog(kv: KVNamespace, creditsPerUsd: number): Promise<CatalogModel[]> {
  if (cached && Date.now() - cached.at < CACHE_MS && cached.source.endsWith(`|${creditsPerUsd}`)) return cached.models;
  const stored = await kv.get(CATALOG_KEY);
  let entries = DEFAULT_CATALOG;
  if (stored) {
    try {
      entries = parseInput(CatalogDocument, JSON.parse(stored));
    } catch {
      // A broken override must not take the router down: keep serving the default, loudly.
      logEvent("error", "catalog override in KV is invalid; using the default catalog");
    }
  }
  const models = toModels(entries, creditsPerUsd);
  cached = { at: Date.now(), source: `${stored ?? "default"}|${creditsPerUsd}`, models };
  return models;
}

/** Validates and stores an override (replacing the whole catalog). */
export async function storeCatalog(kv: KVNamespace, input: unknown, creditsPerUsd: number): Promise<CatalogEntry[]> {
  const entries = parseInput(CatalogDocument, input);
  toModels(entries, creditsPerUsd);
  await kv.put(CATALOG_KEY, JSON.stringify(entries));
  cached = undefined;
  return entries;
}

/** Removes the override: the default catalog applies again. */
export async function resetCatalog(kv: KVNamespace): Promise<void> {
  await kv.delete(CATALOG_KEY);
  cached = undefined;
}

/** The entries in force, for admins. */
export async function catalogEntries(
  kv: KVNamespace,
): Promise<{ source: "default" | "override"; models: CatalogEntry[] }> {
  const stored = await kv.get(CATALOG_KEY);
  if (!stored) return { source: "default", models: DEFAULT_CATALOG };
  return { source: "override", models: JSON.parse(stored) as CatalogEntry[] };
}

export { tokenCost };

/** The cost of a call in micro-credits: input and output each rounded up. */
export function callCost(model: CatalogModel, tokensIn: number, tokensOut: number): number {
  return tokenCost(tokensIn, model.priceInPerM) + tokenCost(tokensOut, model.priceOutPerM);
}

/** Finds a model by catalog id, or by provider model name when that is unambiguous. */
export function findModel(models: CatalogModel[], name: string): CatalogModel | undefined {
  const exact = models.find((m) => m.id === name);
  if (exact) return exact;
  const byProviderName = models.filter((m) => m.providerModel === name);
  return byProviderName.length === 1 ? byProviderName[0] : undefined;
}
