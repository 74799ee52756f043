import {
  type CallContext,
  checkFlagAccount,
  checkFlagDefinition,
  checkFlagHistoryQuery,
  checkFlagKey,
  type FlagHistoryPage,
  type FlagHistoryQuery,
  type FlagList,
  type FlagRecord,
  type FlagSet,
  type FlagSetEntry,
  flagEtag,
  type Identity,
  requireAdmin,
  ServiceError,
  withGateDefaults,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { parseIfMatch } from "./if-match";
import { FLAG_SET_KEY, type FlagActor, type FlagRegistryRpc, type RegistryOutcome } from "./registry";
import { publishedSetCache } from "./snapshot";

export { FlagRegistry } from "./registry";

/** What `put` answers: the flag as stored, its ETag, and whether the PUT created it. */
export interface FlagPutResult extends FlagRecord {
  created: boolean;
}

/** What `remove` answers. */
export interface FlagRemoveResult {
  key: string;
  deleted: true;
  /** The registry's version after the delete. */
  version: string;
}

function record(entry: FlagSetEntry): FlagRecord {
  return { flag: entry.definition, overrides: entry.overrides, etag: flagEtag(entry.definition.version) };
}

function settle<T>(outcome: RegistryOutcome<T>): T {
  if (!outcome.ok) throw new ServiceError(outcome.code, outcome.message, outcome.details);
  return outcome;
}

/**
 * The feature-flag registry. Admins define flags (`put`, `remove`), per-account overrides
 * (`putOverride`, `removeOverride`) and read their history; every write goes through one Durable
 * Object so `If-Match` is real, and is then published to KV. Other workers evaluate flags
 * locally from `snapshot()` (shared's `evaluateFlag`, cached per isolate in a FlagSetCache).
 */
export class FlagsService extends MeshEntrypoint<FlagsEnv> {
  /** Liveness for the gateway's `/ready`: proves the worker runs and its KV answers. */
  async health(): Promise<{ service: "flags"; ok: true }> {
    await this.env.KV_FLAGS.get(FLAG_SET_KEY);
    return { service: "flags", ok: true };
  }

  private registry(): FlagRegistryRpc {
    const stub: unknown = this.env.FLAG_REGISTRY.get(this.env.FLAG_REGISTRY.idFromName("registry"));
    return stub as FlagRegistryRpc;
  }

  /**
   * The whole flag set as published, every gate flag no admin has defined added as its built-in
   * default: what an isolate cache in another worker loads. Served from this isolate's cache of
   * KV (`FLAGS_CACHE_TTL_SECONDS`), so a change reaches a caller within two TTLs.
   */
  async snapshot(_call: CallContext): Promise<FlagSet> {
    return withGateDefaults(await publishedSetCache(this.env).get());
  }

  /** `GET /api/admin/flags`: every defined flag with its overrides and ETag. Admin only. */
  async list(identity: Identity, _call: CallContext): Promise<FlagList> {
    requireAdmin(identity);
    const set = await this.registry().snapshot();
    return { flags: Object.values(set.flags).map(record), version: set.version };
  }

  /** `GET /api/admin/flags/:key`: one defined flag (404 otherwise). Admin only. */
  async get(key: string, identity: Identity, _call: CallContext): Promise<FlagRecord> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const entry = await this.registry().read(checked);
    if (entry === null) throw new ServiceError("not_found", `flag ${checked} is not defined`);
    return record(entry);
  }

  /**
   * `PUT /api/admin/flags/:key`: creates (no precondition) or replaces (`ifMatch` with the current
   * ETag: 428 without, 412 stale) a definition, validated with paths (400). Admin only.
   */
  async put(
    key: string,
    body: unknown,
    ifMatch: string | null,
    identity: Identity,
    call: CallContext,
  ): Promise<FlagPutResult> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const precondition = parseIfMatch(ifMatch);
    const definition = checkFlagDefinition(checked, body);
    const outcome = settle(await this.registry().put(checked, definition, precondition, this.actor(identity, call)));
    this.forgetSnapshot();
    return { ...record(outcome.entry), created: outcome.created };
  }

  /** `DELETE /api/admin/flags/:key`: needs `ifMatch` (428/412); 404 when undefined. Admin only. */
  async remove(key: string, ifMatch: string | null, identity: Identity, call: CallContext): Promise<FlagRemoveResult> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const precondition = parseIfMatch(ifMatch);
    const outcome = settle(await this.registry().remove(checked, precondition, this.actor(identity, call)));
    this.forgetSnapshot();
    return { key: checked, deleted: true, version: outcome.version };
  }

  /**
   * `PUT /api/admin/flags/:key/overrides/:account` with `{ variant }`: no precondition, but it
   * bumps the flag's version and is recorded in its history. An undefined gate flag is created
   * from its default. Admin only.
   */
  async putOverride(
    key: string,
    account: string,
    body: unknown,
    identity: Identity,
    call: CallContext,
  ): Promise<FlagRecord> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const owner = checkFlagAccount(account);
    const outcome = settle(await this.registry().putOverride(checked, owner, body, this.actor(identity, call)));
    this.forgetSnapshot();
    return record(outcome.entry);
  }

  /** `DELETE /api/admin/flags/:key/overrides/:account`: 404 when there is no such override. Admin only. */
  async removeOverride(key: string, account: string, identity: Identity, call: CallContext): Promise<FlagRecord> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const owner = checkFlagAccount(account);
    const outcome = settle(await this.registry().removeOverride(checked, owner, this.actor(identity, call)));
    this.forgetSnapshot();
    return record(outcome.entry);
  }

  /**
   * `GET /api/admin/flags/:key/history?limit=&before=`: the flag's changes, newest first (who,
   * when, request id, before/after), also after it was deleted. Admin only.
   */
  async history(
    key: string,
    query: FlagHistoryQuery,
    identity: Identity,
    _call: CallContext,
  ): Promise<FlagHistoryPage> {
    requireAdmin(identity);
    const checked = checkFlagKey(key);
    const { limit, before } = checkFlagHistoryQuery(query);
    return this.registry().history(checked, limit, before);
  }

  private actor(identity: Identity, call: CallContext): FlagActor {
    return { by: identity.sub, requestId: call.requestId };
  }

  // The isolate that made a change serves it at once; the others pick it up within their TTL.
  private forgetSnapshot(): void {
    publishedSetCache(this.env).clear();
  }
}

/** What other workers bind to (`"entrypoint": "FlagsEntrypoint"`): FlagsService, answering refusals as values. */
export const FlagsEntrypoint = refusingEntrypoint<FlagsEnv, typeof FlagsService>(FlagsService);

export default {
  async fetch(): Promise<Response> {
    return new Response("not found", { status: 404 });
  },
};
