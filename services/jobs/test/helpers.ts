import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { JobsService } from "../src/index";

export const call = { requestId: "jobs-test-request" };
export const admin: Identity = { sub: "admin", source: "admin", admin: true };

export function jobs(overrides: Partial<JobsEnv> = {}): JobsService {
  return new JobsService(createExecutionContext(), { ...env, ...overrides });
}

/** A new guest account with its starter credits, through the real billing worker. */
export async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}
