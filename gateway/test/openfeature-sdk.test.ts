import { exports } from "cloudflare:workers";
import { type FlagRolloutShare, fractionalVariant } from "@cognomega/shared";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type Client, OpenFeature } from "@openfeature/server-sdk";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, BASE, gateway, guestToken } from "./helpers";

// The official OpenFeature server SDK with the generic OFREP provider, unmodified: only its
// documented options are set (the gateway's base URL, the caller's Bearer token, and a fetch that
// reaches the gateway inside this workerd instead of over a socket). Flags are created first
// through the admin routes, as an operator would.

const admin = { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json" };
const prefix = `sdk-${crypto.randomUUID().slice(0, 8)}`;
const key = (name: string) => `${prefix}.${name}`;
const SPLIT: FlagRolloutShare[] = [
  { variant: "low", weight: 50 },
  { variant: "high", weight: 50 },
];

async function put(path: string, body: unknown): Promise<void> {
  const response = await gateway(path, { method: "PUT", headers: admin, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
}

/** An OpenFeature client of its own (a provider per domain) for the caller with `token`. */
async function clientFor(token: string): Promise<Client> {
  const domain = `gateway-${crypto.randomUUID()}`;
  const provider = new OFREPProvider({
    baseUrl: BASE,
    headers: { Authorization: `Bearer ${token}` },
    fetchImplementation: (request: Request) => (exports as unknown as { default: Fetcher }).default.fetch(request),
  });
  await OpenFeature.setProviderAndWait(domain, provider);
  return OpenFeature.getClient(domain);
}

let caller: { token: string; sub: string };
let client: Client;

beforeAll(async () => {
  caller = await guestToken();
  await put(`/api/admin/flags/${key("bool")}`, {
    type: "boolean",
    variants: { on: true, off: false },
    default_variant: "on",
    description: "a static boolean",
  });
  await put(`/api/admin/flags/${key("string")}`, {
    type: "string",
    variants: { blue: "blue", green: "green" },
    default_variant: "blue",
    rules: [{ when: [{ attribute: "plan", op: "eq", value: "pro" }], variant: "green" }],
  });
  await put(`/api/admin/flags/${key("number")}`, {
    type: "number",
    variants: { low: 1, high: 10 },
    default_variant: "low",
    rules: [{ rollout: SPLIT }],
  });
  await put(`/api/admin/flags/${key("object")}`, {
    type: "object",
    variants: { small: { limit: 5 }, large: { limit: 50, tags: ["beta"] } },
    default_variant: "small",
    rules: [{ when: [{ attribute: "plan", op: "eq", value: "enterprise" }], variant: "large" }],
  });
  await put(`/api/admin/flags/${key("object")}/overrides/${encodeURIComponent(caller.sub)}`, { variant: "large" });
  await put(`/api/admin/flags/${key("disabled")}`, {
    type: "boolean",
    variants: { on: true, off: false },
    default_variant: "off",
    enabled: false,
  });
  client = await clientFor(caller.token);
});

describe("@openfeature/server-sdk with @openfeature/ofrep-provider against the gateway", () => {
  it("reads a boolean flag without rules as STATIC", async () => {
    expect(await client.getBooleanDetails(key("bool"), false)).toMatchObject({
      flagKey: key("bool"),
      value: true,
      variant: "on",
      reason: "STATIC",
    });
    expect(await client.getBooleanValue(key("bool"), false)).toBe(true);
  });

  it("reads a string flag: DEFAULT when no rule matches, TARGETING_MATCH when the context's attribute does", async () => {
    expect(await client.getStringDetails(key("string"), "none")).toMatchObject({
      value: "blue",
      variant: "blue",
      reason: "DEFAULT",
    });
    expect(await client.getStringDetails(key("string"), "none", { plan: "pro" })).toMatchObject({
      value: "green",
      variant: "green",
      reason: "TARGETING_MATCH",
    });
  });

  it("reads a number flag's rollout as SPLIT, bucketed by the caller's own account", async () => {
    const expected = fractionalVariant(key("number"), caller.sub, SPLIT);
    const details = await client.getNumberDetails(key("number"), -1);
    expect(details).toMatchObject({ variant: expected, value: expected === "low" ? 1 : 10, reason: "SPLIT" });
    // A client claiming another targetingKey is still evaluated as itself.
    const forged = await client.getNumberDetails(key("number"), -1, { targetingKey: "guest:someone-else" });
    expect(forged).toMatchObject({ variant: expected, reason: "SPLIT" });
  });

  it("reads an object flag, with the caller's override as TARGETING_MATCH", async () => {
    expect(await client.getObjectDetails(key("object"), {})).toMatchObject({
      value: { limit: 50, tags: ["beta"] },
      variant: "large",
      reason: "TARGETING_MATCH",
    });
    const other = await clientFor((await guestToken()).token);
    expect(await other.getObjectDetails(key("object"), {})).toMatchObject({
      value: { limit: 5 },
      variant: "small",
      reason: "DEFAULT",
    });
  });

  it("reads a disabled flag as its default with DISABLED", async () => {
    expect(await client.getBooleanDetails(key("disabled"), true)).toMatchObject({
      value: false,
      variant: "off",
      reason: "DISABLED",
    });
  });

  it("answers an unknown flag with the caller's default and FLAG_NOT_FOUND", async () => {
    const details = await client.getStringDetails(key("missing"), "fallback");
    expect(details).toMatchObject({ value: "fallback", reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
  });

  it("answers a flag read as the wrong type with the default and TYPE_MISMATCH", async () => {
    const details = await client.getNumberDetails(key("bool"), 7);
    expect(details).toMatchObject({ value: 7, reason: "ERROR", errorCode: "TYPE_MISMATCH" });
  });

  it("gives a client without a valid token only defaults", async () => {
    const anonymous = await clientFor("not-a-token");
    const details = await anonymous.getBooleanDetails(key("bool"), false);
    expect(details.value).toBe(false);
    expect(details.reason).toBe("ERROR");
    expect(details.errorCode).toBeDefined();
  });
});
