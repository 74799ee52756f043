import { evaluateFlag } from "./flag-engine";
import type { EvaluationContext, FlagDefinition, FlagSet, FlagSetEntry, JsonValue } from "./flags";

/** The value of `si.models`: the model ids a tenant may use; `"*"` means every catalog model. */
export interface ModelsGateValue {
  models: string[];
}

/** The value type of each gate flag. */
export interface GateFlagValues {
  "voice.enabled": boolean;
  "scaffold.enabled": boolean;
  "rag.hybrid": boolean;
  "si.models": ModelsGateValue;
}

/** A flag the mesh itself obeys. */
export type GateFlagKey = keyof GateFlagValues;

/** The version a built-in gate definition carries until an admin defines the flag. */
export const BUILTIN_FLAG_VERSION = "builtin";

function onOff(key: GateFlagKey, description: string): FlagDefinition {
  return {
    key,
    type: "boolean",
    variants: { on: true, off: false },
    default_variant: "on",
    enabled: true,
    rules: [],
    description,
    version: BUILTIN_FLAG_VERSION,
    updated_at: "1970-01-01T00:00:00.000Z",
    updated_by: "system",
  };
}

/**
 * The gate flags and the definitions they have until an admin defines them: each keeps today's
 * behaviour (features on, every model allowed). An override on an undefined gate creates it from
 * this definition.
 */
export const GATE_FLAGS: { readonly [K in GateFlagKey]: FlagDefinition } = {
  "voice.enabled": onOff("voice.enabled", "Speech in and out (/api/voice/*, /v1/audio/*)."),
  "scaffold.enabled": onOff("scaffold.enabled", "Rendering and downloading scaffolds (/api/scaffold/*)."),
  "rag.hybrid": onOff("rag.hybrid", "Embeddings in retrieval (off: BM25 only)."),
  "si.models": {
    key: "si.models",
    type: "object",
    variants: { all: { models: ["*"] } },
    default_variant: "all",
    enabled: true,
    rules: [],
    description: 'The model ids a tenant may use ("*": every catalog model).',
    version: BUILTIN_FLAG_VERSION,
    updated_at: "1970-01-01T00:00:00.000Z",
    updated_by: "system",
  },
};

/** True when `key` names a gate flag. */
export function isGateFlag(key: string): key is GateFlagKey {
  return Object.hasOwn(GATE_FLAGS, key);
}

/** The built-in entry of a gate flag (its default definition, no overrides), a fresh copy. */
export function gateFlagEntry(key: GateFlagKey): FlagSetEntry {
  return { definition: structuredClone(GATE_FLAGS[key]), overrides: {} };
}

/** `set` with every gate flag no admin has defined added as its built-in definition. */
export function withGateDefaults(set: FlagSet): FlagSet {
  const flags = { ...set.flags };
  for (const key of Object.keys(GATE_FLAGS) as GateFlagKey[]) {
    if (!Object.hasOwn(flags, key)) flags[key] = { definition: GATE_FLAGS[key], overrides: {} };
  }
  return { version: set.version, flags };
}

function gateValueValid<K extends GateFlagKey>(key: K, value: JsonValue): value is GateFlagValues[K] & JsonValue {
  if (key !== "si.models") return typeof value === "boolean";
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const models = (value as { models?: unknown }).models;
  return Array.isArray(models) && models.every((model) => typeof model === "string");
}

/**
 * A gate's value for `context`: evaluated from `set` when it defines the flag, else (no set, the
 * flag undefined, or an evaluation error such as a value of the wrong shape) the built-in
 * default's value, so a gate never fails closed on a flags outage.
 */
export function gateValue<K extends GateFlagKey>(
  set: FlagSet | undefined,
  key: K,
  context: EvaluationContext,
): GateFlagValues[K] {
  const fallback = GATE_FLAGS[key];
  const fallbackValue = fallback.variants[fallback.default_variant] as GateFlagValues[K];
  if (set === undefined || !Object.hasOwn(set.flags, key)) return fallbackValue;
  const evaluation = evaluateFlag(set, key, context, fallback.type);
  if ("errorCode" in evaluation || !gateValueValid(key, evaluation.value)) return fallbackValue;
  return evaluation.value;
}

/** True when `si.models`' value lets `model` through (`"*"` lets every model through). */
export function modelAllowed(value: ModelsGateValue, model: string): boolean {
  return value.models.includes("*") || value.models.includes(model);
}
