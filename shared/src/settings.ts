import { ServiceError } from "./errors";

/**
 * What every setting declares: one line of meaning for docs/configuration.md, and whether its
 * value is a secret (set with `wrangler secret put`, never in wrangler.jsonc, never shown).
 */
interface SettingBase {
  meaning: string;
  secret?: boolean;
}

/** A whole number within [min, max]; `unit` is for the docs ("ms", "seconds", "credits"). */
export interface IntegerSetting extends SettingBase {
  kind: "integer";
  default: number;
  min: number;
  max: number;
  unit?: string;
}

/** A non-negative decimal with at most `places` decimals and at most `max`, kept as its exact text. */
export interface DecimalSetting extends SettingBase {
  kind: "decimal";
  default: string;
  places: number;
  max: number;
  unit?: string;
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case). */
export interface BooleanSetting extends SettingBase {
  kind: "boolean";
  default: boolean;
}

/** One of a closed list of words. */
export interface EnumSetting<T extends string = string> extends SettingBase {
  kind: "enum";
  values: readonly T[];
  default: T;
}

/** Free text, trimmed; without a default an unset one reads as `undefined`. `format` checks it. */
export interface TextSetting extends SettingBase {
  kind: "text";
  default?: string;
  format?: { pattern: RegExp; description: string };
}

/** An http(s) URL, read without trailing slashes so a path can be appended to it. */
export interface UrlSetting extends SettingBase {
  kind: "url";
  default: string;
}

/** A comma-separated list, each entry trimmed (lower-cased when `lowercase`), blanks dropped. */
export interface ListSetting extends SettingBase {
  kind: "list";
  default: string;
  lowercase?: boolean;
}

/** Any one setting's declaration. */
export type Setting =
  | IntegerSetting
  | DecimalSetting
  | BooleanSetting
  | EnumSetting
  | TextSetting
  | UrlSetting
  | ListSetting;

/** A worker's settings by the env name each is read from. */
export type SettingSpecs = Record<string, Setting>;

/** The value a declaration reads as. */
export type SettingValue<S extends Setting> = S extends IntegerSetting
  ? number
  : S extends BooleanSetting
    ? boolean
    : S extends EnumSetting<infer T>
      ? T
      : S extends ListSetting
        ? readonly string[]
        : S extends TextSetting
          ? S extends { default: string }
            ? string
            : string | undefined
          : string;

/** The frozen object a declaration reads from an env: one typed value per setting. */
export type SettingsOf<S extends SettingSpecs> = { readonly [K in keyof S]: SettingValue<S[K]> };

/** Builders that keep each declaration's literal types (an enum's words, a text's default). */
export const setting = {
  integer: (spec: Omit<IntegerSetting, "kind">): IntegerSetting => ({ kind: "integer", ...spec }),
  decimal: (spec: Omit<DecimalSetting, "kind">): DecimalSetting => ({ kind: "decimal", ...spec }),
  boolean: (spec: Omit<BooleanSetting, "kind">): BooleanSetting => ({ kind: "boolean", ...spec }),
  oneOf: <const T extends string>(values: readonly T[], spec: Omit<EnumSetting<T>, "kind" | "values">) =>
    ({ kind: "enum", values, ...spec }) as EnumSetting<T>,
  text: <const D extends string | undefined = undefined>(
    spec: Omit<TextSetting, "kind" | "default"> & { default?: D },
  ) => ({ kind: "text", ...spec }) as TextSetting & (D extends string ? { default: D } : { default?: undefined }),
  url: (spec: Omit<UrlSetting, "kind">): UrlSetting => ({ kind: "url", ...spec }),
  list: (spec: Omit<ListSetting, "kind">): ListSetting => ({ kind: "list", ...spec }),
};

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);
const URL_PATTERN = /^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/;

function refuse(name: string, rule: string): never {
  throw new ServiceError("not_configured", `${name} must be ${rule}`);
}

/** The rule a setting's value must follow, in words: the error message and the docs say the same. */
export function settingRule(spec: Setting): string {
  switch (spec.kind) {
    case "integer":
      return `an integer from ${spec.min} to ${spec.max}`;
    case "decimal":
      return `a number from 0 to ${spec.max} with at most ${spec.places} decimals`;
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${spec.values.join(", ")}`;
    case "text":
      return spec.format ? spec.format.description : "text";
    case "url":
      return "an http(s) URL";
    case "list":
      return "a comma-separated list";
  }
}

function decimalText(text: string, spec: DecimalSetting): boolean {
  const match = /^(\d{1,15})(?:\.(\d+))?$/.exec(text);
  if (!match) return false;
  return (match[2] ?? "").length <= spec.places && Number(text) <= spec.max;
}

/**
 * Reads one value against its declaration. Unset or blank (whitespace only) takes the default;
 * anything else that breaks the rule is the operator's mistake, thrown as 503 `not_configured`
 * naming the setting, never clamped or silently replaced by the default.
 */
export function readSetting<S extends Setting>(name: string, spec: S, raw: unknown): SettingValue<S> {
  if (raw !== undefined && typeof raw !== "string") refuse(name, settingRule(spec));
  const text = raw?.trim() ?? "";
  const unset = text === "";
  let value: unknown;
  switch (spec.kind) {
    case "integer": {
      if (unset) return spec.default as SettingValue<S>;
      const parsed = Number(text);
      if (!Number.isSafeInteger(parsed) || parsed < spec.min || parsed > spec.max) refuse(name, settingRule(spec));
      value = parsed;
      break;
    }
    case "decimal":
      value = unset ? spec.default : decimalText(text, spec) ? text : refuse(name, settingRule(spec));
      break;
    case "boolean": {
      if (unset) return spec.default as SettingValue<S>;
      const word = text.toLowerCase();
      if (!TRUE_WORDS.has(word) && !FALSE_WORDS.has(word)) refuse(name, settingRule(spec));
      value = TRUE_WORDS.has(word);
      break;
    }
    case "enum":
      value = unset ? spec.default : spec.values.includes(text) ? text : refuse(name, settingRule(spec));
      break;
    case "text":
      if (unset) return spec.default as SettingValue<S>;
      if (spec.format && !spec.format.pattern.test(text)) refuse(name, settingRule(spec));
      value = text;
      break;
    case "url": {
      const url = (unset ? spec.default : text).replace(/\/+$/, "");
      value = URL_PATTERN.test(url) ? url : refuse(name, settingRule(spec));
      break;
    }
    case "list": {
      const entries = (unset ? spec.default : text).split(",").map((entry) => entry.trim());
      value = Object.freeze(entries.filter(Boolean).map((entry) => (spec.lowercase ? entry.toLowerCase() : entry)));
      break;
    }
  }
  return value as SettingValue<S>;
}

/** One worker's settings: its name, its declarations, and the reader its code goes through. */
export interface SettingsDeclaration<S extends SettingSpecs> {
  readonly worker: string;
  readonly specs: S;
  /**
   * Every setting read from `env` at once, as one frozen object; the first bad value throws
   * `not_configured`. Cheap to call per request: while the raw values are the ones read last
   * (compared by identity, one property read each), the same object is returned unparsed.
   */
  read(env: object): SettingsOf<S>;
}

/** Declares a worker's settings (see docs/configuration.md, generated from these declarations). */
export function declareSettings<const S extends SettingSpecs>(worker: string, specs: S): SettingsDeclaration<S> {
  const names = Object.keys(specs);
  let lastRaw: unknown[] | undefined;
  let last: SettingsOf<S> | undefined;
  return {
    worker,
    specs,
    read(env: object): SettingsOf<S> {
      const source = env as Record<string, unknown>;
      const raw = names.map((name) => source[name]);
      if (last !== undefined && lastRaw !== undefined && raw.every((value, i) => value === lastRaw?.[i])) return last;
      const parsed: Record<string, unknown> = {};
      for (const [i, name] of names.entries()) parsed[name] = readSetting(name, specs[name] as Setting, raw[i]);
      last = Object.freeze(parsed) as SettingsOf<S>;
      lastRaw = raw;
      return last;
    },
  };
}

/** `CREDITS_PER_USD`: shared by every worker that prices provider usage, so they convert alike. */
export const CREDITS_PER_USD = setting.integer({
  default: 100,
  min: 1,
  max: 1_000_000,
  unit: "credits per USD",
  meaning: "Credits per US dollar of provider price (100: one credit is one cent).",
});

/** `FLAGS_CACHE_TTL_SECONDS`: how long an isolate evaluates from its copy of the flag set. */
export const FLAGS_CACHE_TTL_SECONDS = setting.integer({
  default: 30,
  min: 0,
  max: 3600,
  unit: "seconds",
  meaning: "How long an isolate evaluates flags from its copy of the flag set before loading it again.",
});
