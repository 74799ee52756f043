// What every fuzzed answer must be, whatever was sent: no 5xx but a 503 saying a dependency is
// missing or down (or a 502 saying a provider's answer was unusable); every 4xx a problem document with a code from the closed list (OFREP routes:
// OFREP's error bodies); a status and body the OpenAPI document declares; no negative balance.

import { ERROR_STATUS } from "@cognomega/shared";
import { checkAgainstDocument } from "../contract";

const ALLOWED_5XX = new Set(["not_configured", "upstream_unavailable"]);
// 502 `upstream_error`: the provider answered, but with nothing usable (the loopback model's text is
// no App Graph, even after the repair attempt). The provider's failure, reported as such, not ours.
const ALLOWED_502 = new Set(["upstream_error"]);
const OFREP_EVALUATION_CODES = new Set([
  "PARSE_ERROR",
  "TARGETING_KEY_MISSING",
  "INVALID_CONTEXT",
  "GENERAL",
  "FLAG_NOT_FOUND",
  "TYPE_MISMATCH",
]);

function parsed(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function knownCode(code: unknown): code is keyof typeof ERROR_STATUS {
  return typeof code === "string" && Object.hasOwn(ERROR_STATUS, code);
}

/** Why an error answer of an OFREP route is not OFREP's, or nothing. */
function ofrepViolation(status: number, type: string, body: Record<string, unknown> | undefined): string | undefined {
  if (type !== "application/json") return `OFREP error answered ${type || "no type"}`;
  if (!body) return "OFREP error body is not a JSON object";
  if (status === 400 || status === 404) {
    return OFREP_EVALUATION_CODES.has(String(body.errorCode)) ? undefined : `OFREP errorCode ${String(body.errorCode)}`;
  }
  if (!knownCode(body.code) || ERROR_STATUS[body.code] !== status) return `OFREP failure code ${String(body.code)}`;
  return typeof body.errorDetails === "string" ? undefined : "OFREP failure without errorDetails";
}

/** Every property one answer breaks (empty when it keeps them all); reads the whole body. */
export async function answerViolations(request: Request, response: Response): Promise<string[]> {
  const found: string[] = [];
  const copy = response.clone();
  const text = await response.text();
  const status = response.status;
  const type = (response.headers.get("Content-Type") ?? "").split(";")[0]?.trim() ?? "";
  const body = type.endsWith("json") ? parsed(text) : undefined;
  const ofrep = new URL(request.url).pathname.startsWith("/ofrep/v1/");
  if (
    status >= 500 &&
    !(status === 503 && ALLOWED_5XX.has(String(body?.code))) &&
    !(status === 502 && ALLOWED_502.has(String(body?.code)))
  ) {
    found.push(`${status} ${String(body?.code ?? type)}: ${text.slice(0, 300)}`);
  }
  if (status >= 400 && status < 500) {
    if (ofrep) {
      const violation = ofrepViolation(status, type, body);
      if (violation) found.push(`${status}: ${violation}: ${text.slice(0, 300)}`);
    } else if (type !== "application/problem+json") {
      found.push(`${status} answered ${type || "no type"}, not problem+json: ${text.slice(0, 300)}`);
    } else if (!knownCode(body?.code) || ERROR_STATUS[body.code] !== status) {
      found.push(`${status} carries code ${String(body?.code)}, not one of the closed list for its status`);
    }
  }
  const balance = response.headers.get("X-Credits-Balance");
  if (balance !== null && !(Number(balance) >= 0)) found.push(`X-Credits-Balance ${balance}`);
  try {
    await checkAgainstDocument(request, copy);
  } catch (error) {
    found.push((error as Error).message);
  }
  return found;
}
