import {
  type CallContext,
  gateFor,
  type Identity,
  identityFlagContext,
  type ModelsGateValue,
  modelAllowed,
  ServiceError,
} from "@cognomega/shared";
import { type CatalogModel, findModel } from "./catalog";

/** Names that ask the router to choose rather than pin a model. */
const ROUTED_MODEL_NAMES = new Set(["auto", "cheapest", "fastest", "balanced"]);

/**
 * What `si.models` says this tenant may use (every model by default, or while flags are unreadable),
 * from this isolate's flag set: no RPC while it is warm.
 */
export function modelsGate(env: SiEnv, identity: Identity, call: CallContext): Promise<ModelsGateValue> {
  return gateFor(env.FLAGS, env.FLAGS_CACHE_TTL_SECONDS, "si.models", identityFlagContext(identity), call);
}

/**
 * The catalog models this tenant may use (`si.models`): the router never sees the others, so no
 * call is routed or advised to one. Pinning one of them is 403 `feature_disabled` (not an unknown
 * model: it exists, just not for this account), as is a tenant left with none at all.
 */
export async function tenantModels(
  env: SiEnv,
  models: CatalogModel[],
  identity: Identity,
  call: CallContext,
  pinned?: string,
): Promise<CatalogModel[]> {
  const allowed = await modelsGate(env, identity, call);
  if (modelAllowed(allowed, "*")) return models;
  if (pinned !== undefined && !ROUTED_MODEL_NAMES.has(pinned)) {
    const model = findModel(models, pinned);
    if (model && !modelAllowed(allowed, model.id))
      throw new ServiceError("feature_disabled", `${model.id} is not enabled for this account`, {
        flag: "si.models",
        model: model.id,
      });
  }
  const usable = models.filter((m) => modelAllowed(allowed, m.id));
  if (usable.length === 0)
    throw new ServiceError("feature_disabled", "no model is enabled for this account", { flag: "si.models" });
  return usable;
}
