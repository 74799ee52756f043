import { ServiceError } from "./errors";

/**
 * A whole-number setting from a worker's vars: unset or blank takes `fallback`; anything else out
 * of [min, max] is the operator's mistake, answered as 503 `not_configured` naming the setting.
 */
export function integerSetting(value: string | undefined, fallback: number, name: string, min: number, max: number) {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ServiceError("not_configured", `${name} must be an integer from ${min} to ${max}`);
  }
  return parsed;
}
