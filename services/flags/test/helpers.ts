import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { CallContext, Identity } from "@cognomega/shared";
import { expect } from "vitest";
import { FlagsService } from "../src/index";

export const ADMIN: Identity = {
  sub: "email:ops@cognomega.test",
  email: "ops@cognomega.test",
  source: "header",
  admin: true,
};
export const USER: Identity = { sub: "guest:00000000-0000-4000-8000-000000000001", source: "jwt", admin: false };

let requests = 0;
/** A call context with a request id of its own. */
export function call(): CallContext {
  requests += 1;
  return { requestId: `flags-test-${requests}` };
}

/** The flags service over this test's bindings (or some replaced). */
export function service(overrides: Partial<FlagsEnv> = {}): FlagsService {
  return new FlagsService(createExecutionContext(), { ...env, ...overrides });
}

/** A flag key no other test uses. */
export function uniqueKey(prefix = "test"): string {
  return `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
}

/** A boolean flag with on/off variants and a 50/50 rollout for beta accounts. */
export function booleanFlag(extra: Record<string, unknown> = {}) {
  return {
    type: "boolean",
    variants: { on: true, off: false },
    default_variant: "off",
    rules: [
      { when: [{ attribute: "plan", op: "eq", value: "beta" }], variant: "on" },
      {
        rollout: [
          { variant: "on", weight: 50 },
          { variant: "off", weight: 50 },
        ],
      },
    ],
    description: "a test flag",
    ...extra,
  };
}

/** Awaits a rejection and returns the ServiceError's fields, failing unless its code is `code`. */
export async function rejection(promise: Promise<unknown>, code: string): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    const fields = error as { name?: string; code?: string; message?: string; details?: Record<string, unknown> };
    expect({ name: fields.name, code: fields.code, message: fields.message }).toMatchObject({
      name: "ServiceError",
      code,
    });
    return { message: fields.message, ...fields.details };
  }
  throw new Error(`expected a ${code} rejection`);
}
