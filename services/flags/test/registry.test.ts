import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { checkFlagDefinition, type FlagSet } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { FLAG_SET_KEY, type FlagRegistry } from "../src/registry";
import { publishedSetCache } from "../src/snapshot";
import { ADMIN, booleanFlag, call, rejection, service, USER, uniqueKey } from "./helpers";

describe("admin writes with If-Match", () => {
  it("creates without a precondition, then needs the current ETag to change (428 without, 412 stale)", async () => {
    const flags = service();
    const key = uniqueKey();
    const created = await flags.put(key, booleanFlag(), null, ADMIN, call());
    expect(created.created).toBe(true);
    expect(created.etag).toBe(`"${created.flag.version}"`);
    expect(created.flag).toMatchObject({
      key,
      type: "boolean",
      default_variant: "off",
      enabled: true,
      updated_by: ADMIN.sub,
    });
    expect((await flags.get(key, ADMIN, call())).etag).toBe(created.etag);

    const missing = await rejection(
      flags.put(key, booleanFlag({ default_variant: "on" }), null, ADMIN, call()),
      "precondition_required",
    );
    expect(missing.etag).toBe(created.etag);
    const changed = await flags.put(key, booleanFlag({ default_variant: "on" }), created.etag, ADMIN, call());
    expect(changed.created).toBe(false);
    expect(changed.etag).not.toBe(created.etag);
    expect(changed.flag.default_variant).toBe("on");

    // The first ETag is stale now; a weak one never matches; `*` matches whatever is current.
    await rejection(flags.put(key, booleanFlag(), created.etag, ADMIN, call()), "precondition_failed");
    await rejection(flags.put(key, booleanFlag(), `W/${changed.etag}`, ADMIN, call()), "precondition_failed");
    const any = await flags.put(key, booleanFlag({ description: "any" }), "*", ADMIN, call());
    expect(any.flag.description).toBe("any");
    expect((await flags.get(key, ADMIN, call())).flag.description).toBe("any");
  });

  it("refuses an If-Match on a flag that does not exist, and a malformed If-Match", async () => {
    const flags = service();
    await rejection(flags.put(uniqueKey(), booleanFlag(), '"7"', ADMIN, call()), "precondition_failed");
    const malformed = await rejection(flags.put(uniqueKey(), booleanFlag(), "7", ADMIN, call()), "invalid_input");
    expect(malformed.issues).toEqual([{ path: "If-Match", message: "invalid" }]);
  });

  it("lets exactly one of two concurrent PUTs holding the same ETag win", async () => {
    const flags = service();
    const key = uniqueKey();
    const { etag } = await flags.put(key, booleanFlag(), null, ADMIN, call());
    const outcomes = await Promise.allSettled(
      ["first", "second", "third"].map((description) =>
        service().put(key, booleanFlag({ description }), etag, ADMIN, call()),
      ),
    );
    const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const lost = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost.map((outcome) => (outcome.reason as { code: string }).code)).toEqual([
      "precondition_failed",
      "precondition_failed",
    ]);
    const winner = (won[0] as PromiseFulfilledResult<{ flag: { description: string } }>).value.flag.description;
    expect((await flags.get(key, ADMIN, call())).flag.description).toBe(winner);
  });

  it("deletes only with the current ETag, keeps the history, and answers 404 after", async () => {
    const flags = service();
    const key = uniqueKey();
    const { etag } = await flags.put(key, booleanFlag(), null, ADMIN, call());
    await rejection(flags.remove(key, null, ADMIN, call()), "precondition_required");
    await rejection(flags.remove(key, '"0"', ADMIN, call()), "precondition_failed");
    const removed = await flags.remove(key, etag, ADMIN, call());
    expect(removed).toMatchObject({ key, deleted: true });
    await rejection(flags.get(key, ADMIN, call()), "not_found");
    await rejection(flags.remove(key, etag, ADMIN, call()), "not_found");
    const history = await flags.history(key, {}, ADMIN, call());
    expect(history.entries.map((entry) => entry.action)).toEqual(["delete", "put"]);
    expect(history.entries[0]?.after).toBeNull();
    // Created again: no precondition, it is a new flag.
    expect((await flags.put(key, booleanFlag(), null, ADMIN, call())).created).toBe(true);
  });

  it("is admin only, for every method", async () => {
    const flags = service();
    const key = uniqueKey();
    await rejection(flags.list(USER, call()), "forbidden");
    await rejection(flags.get(key, USER, call()), "forbidden");
    await rejection(flags.put(key, booleanFlag(), null, USER, call()), "forbidden");
    await rejection(flags.remove(key, "*", USER, call()), "forbidden");
    await rejection(flags.putOverride("voice.enabled", USER.sub, { variant: "off" }, USER, call()), "forbidden");
    await rejection(flags.removeOverride(key, USER.sub, USER, call()), "forbidden");
    await rejection(flags.history(key, {}, USER, call()), "forbidden");
    await rejection(flags.get(key, ADMIN, call()), "not_found");
  });
});

describe("validation", () => {
  it("answers every failing path of a definition", async () => {
    const flags = service();
    const bad = await rejection(
      flags.put(
        uniqueKey(),
        {
          type: "boolean",
          variants: { on: true, off: "no" },
          default_variant: "maybe",
          rules: [
            { when: [{ attribute: "plan", op: "eq", value: "beta" }], variant: "ghost" },
            {
              rollout: [
                { variant: "on", weight: 60 },
                { variant: "off", weight: 30 },
              ],
            },
            { rollout: [{ variant: "nobody", weight: 100 }] },
            { variant: "on", rollout: [{ variant: "on", weight: 100 }] },
            { when: [{ attribute: "age", op: "gt", value: "ten" }], variant: "on" },
          ],
        },
        null,
        ADMIN,
        call(),
      ),
      "invalid_input",
    );
    expect((bad.issues as { path: string }[]).map((issue) => issue.path).sort()).toEqual(
      [
        "variants.off",
        "default_variant",
        "rules.0.variant",
        "rules.1.rollout",
        "rules.2.rollout.0.variant",
        "rules.3",
        "rules.4.when.0.value",
      ].sort(),
    );
  });

  it("refuses bad keys, unknown operators, a key that differs from the path, and unknown fields", async () => {
    const flags = service();
    const key = uniqueKey();
    for (const badKey of ["", "-leading", "has space", "a/b", "x".repeat(129)]) {
      await rejection(flags.put(badKey, booleanFlag(), null, ADMIN, call()), "invalid_input");
    }
    const paths = async (body: unknown) =>
      ((await rejection(flags.put(key, body, null, ADMIN, call()), "invalid_input")).issues as { path: string }[]).map(
        (issue) => issue.path,
      );
    expect(
      await paths(booleanFlag({ rules: [{ when: [{ attribute: "a", op: "regex", value: "x" }], variant: "on" }] })),
    ).toEqual(["rules.0.when.0.op"]);
    expect(await paths(booleanFlag({ key: "another.key" }))).toEqual(["key"]);
    expect(await paths(booleanFlag({ owner: "me" }))).toEqual(["owner"]);
    expect(await paths({ ...booleanFlag(), type: "string" })).toEqual(["variants.on", "variants.off"]);
    expect(await paths(booleanFlag({ rules: Array.from({ length: 51 }, () => ({ variant: "on" })) }))).toEqual([
      "rules",
    ]);
    expect(
      await paths(
        booleanFlag({
          rules: [
            { when: [{ attribute: "a", op: "in", value: Array.from({ length: 101 }, (_, i) => i) }], variant: "on" },
          ],
        }),
      ),
    ).toEqual(["rules.0.when.0.value"]);
    await rejection(flags.get(key, ADMIN, call()), "not_found");
  });
});

describe("overrides", () => {
  it("creates an undefined gate flag from its default, bumps the version and records history", async () => {
    const flags = service();
    // Other tests may have touched the gate: start from it undefined.
    const existing = await flags.get("scaffold.enabled", ADMIN, call()).catch(() => undefined);
    if (existing) await flags.remove("scaffold.enabled", existing.etag, ADMIN, call());
    const account = "guest:11111111-1111-4111-8111-111111111111";
    const set = await flags.putOverride("scaffold.enabled", account, { variant: "off" }, ADMIN, call());
    expect(set.flag).toMatchObject({
      key: "scaffold.enabled",
      type: "boolean",
      variants: { on: true, off: false },
      default_variant: "on",
    });
    expect(set.overrides).toEqual({ [account]: "off" });
    const again = await flags.putOverride("scaffold.enabled", "email:a@b.test", { variant: "on" }, ADMIN, call());
    expect(Number(again.flag.version)).toBeGreaterThan(Number(set.flag.version));
    expect(again.etag).toBe(`"${again.flag.version}"`);
    const removed = await flags.removeOverride("scaffold.enabled", account, ADMIN, call());
    expect(removed.overrides).toEqual({ "email:a@b.test": "on" });
    await rejection(flags.removeOverride("scaffold.enabled", account, ADMIN, call()), "not_found");

    const history = await flags.history("scaffold.enabled", { limit: "3" }, ADMIN, call());
    expect(history.entries.map((entry) => [entry.action, entry.account])).toEqual([
      ["delete_override", account],
      ["put_override", "email:a@b.test"],
      ["put_override", account],
    ]);
    expect(history.entries[2]?.before).toBeNull();
    expect(history.entries[2]?.by).toBe(ADMIN.sub);
    expect(history.entries[2]?.request_id).toMatch(/^flags-test-\d+$/);
  });

  it("refuses an unknown variant, an undefined non-gate flag, and a definition dropping a variant in use", async () => {
    const flags = service();
    const key = uniqueKey();
    await rejection(flags.putOverride(key, USER.sub, { variant: "on" }, ADMIN, call()), "not_found");
    const { etag } = await flags.put(key, booleanFlag(), null, ADMIN, call());
    const unknown = await rejection(
      flags.putOverride(key, USER.sub, { variant: "maybe" }, ADMIN, call()),
      "invalid_input",
    );
    expect(unknown.issues).toEqual([{ path: "variant", message: "unknown variant maybe" }]);
    await rejection(flags.putOverride(key, "has space", { variant: "on" }, ADMIN, call()), "invalid_input");
    const withOverride = await flags.putOverride(key, USER.sub, { variant: "on" }, ADMIN, call());
    expect(withOverride.etag).not.toBe(etag);
    const dropped = await rejection(
      flags.put(key, { ...booleanFlag(), variants: { off: false }, rules: [] }, withOverride.etag, ADMIN, call()),
      "invalid_input",
    );
    expect((dropped.issues as { path: string }[])[0]?.path).toBe("variants");
  });
});

describe("history", () => {
  it("pages newest first with who, when, request id and before/after", async () => {
    const flags = service();
    const key = uniqueKey();
    let etag = (await flags.put(key, booleanFlag({ description: "v1" }), null, ADMIN, call())).etag;
    for (const description of ["v2", "v3", "v4"]) {
      etag = (await flags.put(key, booleanFlag({ description }), etag, ADMIN, call())).etag;
    }
    const first = await flags.history(key, { limit: "2" }, ADMIN, call());
    expect(first.entries.map((entry) => entry.after?.definition.description)).toEqual(["v4", "v3"]);
    expect(first.entries[0]?.before?.definition.description).toBe("v3");
    expect(first.entries[0]).toMatchObject({ key, action: "put", by: ADMIN.sub });
    expect(Date.parse(first.entries[0]?.at ?? "")).not.toBeNaN();
    expect(first.next).toBe(first.entries[1]?.seq);
    const second = await flags.history(key, { limit: "2", before: String(first.next) }, ADMIN, call());
    expect(second.entries.map((entry) => entry.after?.definition.description)).toEqual(["v2", "v1"]);
    expect(second.next).toBeNull();
    await rejection(flags.history(key, { limit: "0" }, ADMIN, call()), "invalid_input");
    await rejection(flags.history(key, { limit: "abc" }, ADMIN, call()), "invalid_input");
    await rejection(flags.history(key, { sort: "asc" } as never, ADMIN, call()), "invalid_input");
  });
});

describe("publishing and the snapshot cache", () => {
  it("publishes the whole set to KV after each write, with a new version", async () => {
    const flags = service();
    const key = uniqueKey();
    const { flag } = await flags.put(key, booleanFlag(), null, ADMIN, call());
    const published = await env.KV_FLAGS.get<FlagSet>(FLAG_SET_KEY, "json");
    expect(published?.version).toBe(flag.version);
    expect(published?.flags[key]?.definition).toEqual(flag);
    const snapshot = await flags.snapshot(call());
    expect(snapshot.flags[key]?.definition.version).toBe(flag.version);
    // Gate flags no admin defined are in the snapshot as their defaults.
    expect(snapshot.flags["si.models"]?.definition.variants).toEqual({ all: { models: ["*"] } });
  });

  it("reads KV once while warm and sees a change after the TTL (the clock is moved, not waited for)", async () => {
    let reads = 0;
    const kv = new Proxy(env.KV_FLAGS, {
      get(target, name) {
        if (name !== "get") return Reflect.get(target, name);
        return (...args: Parameters<KVNamespace["get"]>) => {
          reads += 1;
          return target.get(...args);
        };
      },
    });
    let now = 1_000_000;
    const bindings = { KV_FLAGS: kv, FLAGS_CACHE_TTL_SECONDS: "30" };
    publishedSetCache({ ...env, ...bindings }, () => now);
    const reader = service(bindings);
    const before = await reader.snapshot(call());
    for (let i = 0; i < 5; i++) await reader.snapshot(call());
    expect(reads).toBe(1);

    const key = uniqueKey();
    await service().put(key, booleanFlag(), null, ADMIN, call());
    now += 29_000;
    expect((await reader.snapshot(call())).version).toBe(before.version);
    expect(reads).toBe(1);
    now += 1_000;
    const after = await reader.snapshot(call());
    expect(reads).toBe(2);
    expect(after.flags[key]).toBeDefined();
    expect(Number(after.version)).toBeGreaterThan(Number(before.version));
  });
});

describe("a failed publication", () => {
  it("keeps the write and publishes again from the alarm", async () => {
    const stub = env.FLAG_REGISTRY.get(env.FLAG_REGISTRY.idFromName("registry"));
    const key = uniqueKey();
    const failing = { ...env.KV_FLAGS, put: () => Promise.reject(new Error("KV is down")) };
    const outcome = await runInDurableObject(stub, async (instance: FlagRegistry, state) => {
      const target = instance as unknown as { env: FlagsEnv };
      const real = target.env;
      target.env = { ...real, KV_FLAGS: failing as unknown as KVNamespace };
      try {
        const definition = checkFlagDefinition(key, booleanFlag());
        const result = await instance.put(key, definition, null, { by: ADMIN.sub, requestId: "publish-test" });
        return { result, alarm: await state.storage.getAlarm() };
      } finally {
        target.env = real;
      }
    });
    expect(outcome.result.ok).toBe(true);
    expect(outcome.alarm).not.toBeNull();
    expect((await env.KV_FLAGS.get<FlagSet>(FLAG_SET_KEY, "json"))?.flags[key]).toBeUndefined();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await env.KV_FLAGS.get<FlagSet>(FLAG_SET_KEY, "json"))?.flags[key]).toBeDefined();
  });
});
