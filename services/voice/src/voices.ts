import {
  type ProviderFailure,
  ServiceError,
  type VoiceCatalog,
  type VoiceCatalogEntry,
  type VoiceListQuery,
  type VoicePage,
  type VoiceProviderId,
  type VoiceView,
} from "@cognomega/shared";
import type { VoiceProvider } from "./providers/types";

/** Where Cartesia's voice manifest is cached (never audio). */
export const CARTESIA_VOICES_KEY = "voices:cartesia";
const DEFAULT_LIMIT = 20;
const FETCH_TIMEOUT_MS = 10_000;

interface CachedVoices {
  fetched_at: number;
  voices: VoiceView[];
}

/** Options of {@link listVoices}: a clock (tests) and the most the manifest fetch may take. */
export interface ListVoicesOptions {
  now?: () => number;
  timeoutMs?: number;
}

function primary(language: string): string {
  return language.split("-")[0]?.toLowerCase() ?? language;
}

function titleCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Workers AI's speakers: catalog data, so listing them costs no provider call. */
function workersAiVoices(entries: readonly VoiceCatalogEntry[]): VoiceView[] {
  const seen = new Set<string>();
  const voices: VoiceView[] = [];
  const models = entries
    .filter((m) => m.provider === "workers-ai" && m.kind === "tts")
    .sort((a, b) => (a.priority ?? 100) - (b.priority ?? 100) || (a.id < b.id ? -1 : 1));
  for (const model of models) {
    for (const id of model.voices ?? (model.default_voice ? [model.default_voice] : [])) {
      if (seen.has(id)) continue;
      seen.add(id);
      voices.push({
        id,
        name: titleCase(id),
        provider: "workers-ai",
        language: model.languages[0] ?? null,
        description: `${model.id} speaker`,
      });
    }
  }
  return voices;
}

async function readCache(kv: KVNamespace): Promise<CachedVoices | undefined> {
  const stored = await kv.get<CachedVoices>(CARTESIA_VOICES_KEY, "json").catch(() => null);
  return stored && typeof stored.fetched_at === "number" && Array.isArray(stored.voices) ? stored : undefined;
}

/**
 * Cartesia's voices, from the KV cache while it is younger than `ttlSeconds`, else fetched (and
 * cached). A failed fetch falls back to an expired copy when KV still holds one; with none it throws
 * the provider's failure.
 */
async function cartesiaVoices(
  kv: KVNamespace,
  provider: VoiceProvider,
  ttlSeconds: number,
  now: () => number,
  timeoutMs: number,
): Promise<VoiceView[]> {
  const cached = await readCache(kv);
  if (cached && now() - cached.fetched_at < ttlSeconds * 1000) return cached.voices;
  try {
    const voices = (await provider.voices(AbortSignal.timeout(timeoutMs))).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1,
    );
    const entry: CachedVoices = { fetched_at: now(), voices };
    await kv.put(CARTESIA_VOICES_KEY, JSON.stringify(entry), { expirationTtl: ttlSeconds });
    return voices;
  } catch (error) {
    if (cached) return cached.voices;
    throw error;
  }
}

function unavailable(error: unknown): ServiceError {
  const failure = error as Partial<ProviderFailure>;
  if (failure?.name !== "ProviderFailure") throw error;
  const details: Record<string, unknown> = { provider: "cartesia" };
  if (failure.providerCode !== undefined) details.provider_code = failure.providerCode;
  const transient = ["rate_limited", "timeout", "connection_error", "server_error"].includes(String(failure.kind));
  return transient
    ? new ServiceError("upstream_unavailable", "cartesia's voice list is not available now", details)
    : new ServiceError("upstream_error", "cartesia refused to list its voices", details);
}

/**
 * One page of the voices a caller may pick: Workers AI's speakers (from the catalog or its models, in catalog
 * order) then Cartesia's (by name), filtered by provider and language (primary subtag), paged by an
 * offset cursor. A provider that is not configured lists nothing.
 *
 * Cartesia's manifest is cached in KV (`voices:cartesia`) for `ttlSeconds`, so pages while it is warm
 * make no provider call. When Cartesia cannot be listed and no copy is cached: asked for
 * `provider=cartesia`, the answer is 503 `upstream_unavailable` (or 502 `upstream_error` for a
 * rejection); otherwise the page lists the other providers' voices alone, as they are what a
 * request can use right now.
 */
export async function listVoices(
  kv: KVNamespace,
  providers: Record<VoiceProviderId, VoiceProvider>,
  catalog: VoiceCatalog | readonly VoiceCatalogEntry[],
  query: VoiceListQuery,
  ttlSeconds: number,
  options: ListVoicesOptions = {},
): Promise<VoicePage> {
  const now = options.now ?? Date.now;
  const wants = (id: VoiceProviderId) =>
    (query.provider === undefined || query.provider === id) && providers[id].configured().ok;
  const models = "models" in catalog ? catalog.models : catalog;
  let voices: VoiceView[] = wants("workers-ai") ? workersAiVoices(models) : [];
  if (wants("cartesia")) {
    try {
      voices = voices.concat(
        await cartesiaVoices(kv, providers.cartesia, ttlSeconds, now, options.timeoutMs ?? FETCH_TIMEOUT_MS),
      );
    } catch (error) {
      const failure = unavailable(error);
      if (query.provider === "cartesia") throw failure;
    }
  }
  if (query.language !== undefined) {
    const wanted = primary(query.language);
    voices = voices.filter((voice) => voice.language !== null && primary(voice.language) === wanted);
  }
  const offset = Number(query.cursor ?? 0);
  const limit = query.limit ?? DEFAULT_LIMIT;
  const end = offset + limit;
  return { data: voices.slice(offset, end), next_cursor: end < voices.length ? String(end) : null };
}
