import { describe, expect, it } from "vitest";
import { checkFlagDefinition } from "../src/flag-check";
import { checkEvaluationContext, conditionHolds, evaluateAll, evaluateFlag } from "../src/flag-engine";
import { GATE_FLAGS, gateValue, modelAllowed, withGateDefaults } from "../src/flag-gates";
import { FLAG_LIMITS, type FlagCondition, type FlagDefinition, type FlagSet } from "../src/flags";

function definition(key: string, body: Record<string, unknown>): FlagDefinition {
  return {
    ...checkFlagDefinition(key, body),
    version: "7",
    updated_at: "2026-12-01T00:00:00.000Z",
    updated_by: "admin",
  };
}

function setOf(...entries: [FlagDefinition, Record<string, string>?][]): FlagSet {
  const flags: FlagSet["flags"] = {};
  for (const [flag, overrides] of entries) flags[flag.key] = { definition: flag, overrides: overrides ?? {} };
  return { version: "7", flags };
}

const colour = definition("colour", {
  type: "string",
  variants: { red: "#f00", blue: "#00f", green: "#0f0" },
  default_variant: "red",
  rules: [
    { when: [{ attribute: "email_domain", op: "eq", value: "cognomega.com" }], variant: "blue" },
    {
      when: [
        { attribute: "country", op: "in", value: ["DE", "FR"] },
        { attribute: "age", op: "gte", value: 18 },
      ],
      variant: "green",
    },
    { when: [{ attribute: "country", op: "eq", value: "DE" }], variant: "blue" },
  ],
});

describe("conditions", () => {
  const holds = (condition: FlagCondition, context: Record<string, unknown>) =>
    conditionHolds(condition, context as never);
  it("evaluates every operator on matching and non-matching values", () => {
    const cases: [FlagCondition, unknown, boolean][] = [
      [{ attribute: "a", op: "eq", value: "x" }, "x", true],
      [{ attribute: "a", op: "eq", value: "x" }, "y", false],
      [{ attribute: "a", op: "eq", value: 1 }, "1", false],
      [{ attribute: "a", op: "eq", value: true }, true, true],
      [{ attribute: "a", op: "neq", value: "x" }, "y", true],
      [{ attribute: "a", op: "neq", value: "x" }, "x", false],
      [{ attribute: "a", op: "in", value: ["x", 2] }, 2, true],
      [{ attribute: "a", op: "in", value: ["x", 2] }, "2", false],
      [{ attribute: "a", op: "not_in", value: ["x"] }, "y", true],
      [{ attribute: "a", op: "not_in", value: ["x"] }, "x", false],
      [{ attribute: "a", op: "starts_with", value: "guest:" }, "guest:1", true],
      [{ attribute: "a", op: "starts_with", value: "guest:" }, "email:1", false],
      [{ attribute: "a", op: "ends_with", value: ".com" }, "x.com", true],
      [{ attribute: "a", op: "ends_with", value: ".com" }, "x.org", false],
      [{ attribute: "a", op: "contains", value: "beta" }, "in-beta-1", true],
      [{ attribute: "a", op: "contains", value: "beta" }, "alpha", false],
      [{ attribute: "a", op: "starts_with", value: "1" }, 12, false],
      [{ attribute: "a", op: "gt", value: 10 }, 11, true],
      [{ attribute: "a", op: "gt", value: 10 }, 10, false],
      [{ attribute: "a", op: "gte", value: 10 }, 10, true],
      [{ attribute: "a", op: "gte", value: 10 }, 9, false],
      [{ attribute: "a", op: "lt", value: 10 }, 9, true],
      [{ attribute: "a", op: "lt", value: 10 }, 10, false],
      [{ attribute: "a", op: "lte", value: 10 }, 10, true],
      [{ attribute: "a", op: "lte", value: 10 }, 11, false],
      [{ attribute: "a", op: "gt", value: 10 }, "11", false],
      [{ attribute: "a", op: "exists" }, "", true],
      [{ attribute: "a", op: "exists" }, 0, true],
      [{ attribute: "a", op: "exists" }, null, false],
    ];
    for (const [condition, value, expected] of cases) {
      expect({ condition, value, holds: holds(condition, { a: value }) }).toEqual({
        condition,
        value,
        holds: expected,
      });
    }
  });

  it("holds nothing but a false `exists` on an absent attribute (neq and not_in included)", () => {
    for (const op of ["eq", "neq", "starts_with", "ends_with", "contains"] as const) {
      expect(holds({ attribute: "a", op, value: "x" }, {})).toBe(false);
    }
    for (const op of ["gt", "gte", "lt", "lte"] as const)
      expect(holds({ attribute: "a", op, value: 1 }, {})).toBe(false);
    expect(holds({ attribute: "a", op: "not_in", value: ["x"] }, {})).toBe(false);
    expect(holds({ attribute: "a", op: "exists" }, {})).toBe(false);
    // An inherited property is not an attribute.
    expect(holds({ attribute: "constructor", op: "exists" }, {})).toBe(false);
    expect(holds({ attribute: "targetingKey", op: "starts_with", value: "guest:" }, { targetingKey: "guest:9" })).toBe(
      true,
    );
  });
});

describe("evaluateFlag", () => {
  const set = setOf([colour, { "guest:vip": "green" }]);

  it("takes the first rule whose conditions all hold, in order", () => {
    expect(evaluateFlag(set, "colour", { email_domain: "cognomega.com", country: "DE", age: 30 })).toEqual({
      key: "colour",
      value: "#00f",
      variant: "blue",
      reason: "TARGETING_MATCH",
      metadata: { version: "7" },
    });
    expect(evaluateFlag(set, "colour", { country: "DE", age: 30 })).toMatchObject({
      variant: "green",
      reason: "TARGETING_MATCH",
    });
    // The second rule needs both conditions: age 17 fails it, so the third (country DE) matches.
    expect(evaluateFlag(set, "colour", { country: "DE", age: 17 })).toMatchObject({
      variant: "blue",
      reason: "TARGETING_MATCH",
    });
    expect(evaluateFlag(set, "colour", { country: "FR", age: 17 })).toMatchObject({
      variant: "red",
      reason: "DEFAULT",
    });
  });

  it("lets an override for the targetingKey win over every rule, and a disabled flag over the override", () => {
    expect(evaluateFlag(set, "colour", { targetingKey: "guest:vip", email_domain: "cognomega.com" })).toMatchObject({
      variant: "green",
      reason: "TARGETING_MATCH",
    });
    const disabled = setOf([{ ...colour, enabled: false }, { "guest:vip": "green" }]);
    expect(evaluateFlag(disabled, "colour", { targetingKey: "guest:vip" })).toMatchObject({
      variant: "red",
      reason: "DISABLED",
    });
  });

  it("answers STATIC without rules and SPLIT for a rollout, TARGETING_KEY_MISSING without a key", () => {
    const plain = definition("plain", { type: "number", variants: { one: 1, two: 2 }, default_variant: "two" });
    const split = definition("split", {
      type: "boolean",
      variants: { on: true, off: false },
      default_variant: "off",
      rules: [
        {
          rollout: [
            { variant: "on", weight: 50 },
            { variant: "off", weight: 50 },
          ],
        },
      ],
    });
    const both = setOf([plain], [split]);
    expect(evaluateFlag(both, "plain", {})).toMatchObject({ value: 2, variant: "two", reason: "STATIC" });
    expect(evaluateFlag(both, "split", { targetingKey: "guest:a" })).toMatchObject({ reason: "SPLIT" });
    expect(evaluateFlag(both, "split", {})).toEqual({
      key: "split",
      errorCode: "TARGETING_KEY_MISSING",
      errorDetails: expect.any(String),
    });
    expect(evaluateFlag(both, "split", { targetingKey: "" })).toMatchObject({ errorCode: "TARGETING_KEY_MISSING" });
  });

  it("answers FLAG_NOT_FOUND (inherited names too), TYPE_MISMATCH when a type is asked, PARSE_ERROR for a damaged set", () => {
    expect(evaluateFlag(set, "nope", {})).toMatchObject({ key: "nope", errorCode: "FLAG_NOT_FOUND" });
    expect(evaluateFlag(set, "__proto__", {})).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });
    expect(evaluateFlag(set, "toString", {})).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });
    expect(evaluateFlag(set, "colour", {}, "boolean")).toMatchObject({ errorCode: "TYPE_MISMATCH" });
    expect(evaluateFlag(set, "colour", {}, "string")).toMatchObject({ reason: "DEFAULT" });
    const damaged = setOf([{ ...colour, default_variant: "purple" }]);
    expect(evaluateFlag(damaged, "colour", {})).toMatchObject({ errorCode: "PARSE_ERROR" });
    const broken = { version: "1", flags: { colour: { definition: { ...colour, rules: null }, overrides: {} } } };
    expect(evaluateFlag(broken as unknown as FlagSet, "colour", {})).toMatchObject({ errorCode: "GENERAL" });
  });

  it("evaluates every flag in key order", () => {
    const other = definition("alpha", { type: "object", variants: { x: { a: 1 } }, default_variant: "x" });
    expect(evaluateAll(setOf([colour], [other]), {}).map((evaluation) => evaluation.key)).toEqual(["alpha", "colour"]);
  });
});

describe("rollout distribution", () => {
  it("splits many accounts roughly by weight, stably, and independently across flags", () => {
    const shares = [
      { variant: "a", weight: 10 },
      { variant: "b", weight: 30 },
      { variant: "c", weight: 60 },
    ];
    const flag = (key: string) =>
      definition(key, {
        type: "string",
        variants: { a: "a", b: "b", c: "c" },
        default_variant: "a",
        rules: [{ rollout: shares }],
      });
    const set = setOf([flag("one")], [flag("two")]);
    const counts = { a: 0, b: 0, c: 0 } as Record<"a" | "b" | "c", number>;
    let same = 0;
    const total = 10_000;
    for (let i = 0; i < total; i++) {
      const targetingKey = `guest:${i}`;
      const one = evaluateFlag(set, "one", { targetingKey }) as { variant: string };
      counts[one.variant as "a"] += 1;
      expect(evaluateFlag(set, "one", { targetingKey })).toEqual(one);
      if ((evaluateFlag(set, "two", { targetingKey }) as { variant: string }).variant === one.variant) same += 1;
    }
    expect(counts.a / total).toBeGreaterThan(0.08);
    expect(counts.a / total).toBeLessThan(0.12);
    expect(counts.b / total).toBeGreaterThan(0.27);
    expect(counts.b / total).toBeLessThan(0.33);
    expect(counts.c / total).toBeGreaterThan(0.57);
    expect(counts.c / total).toBeLessThan(0.63);
    // Independent flags agree about as often as chance says (0.1² + 0.3² + 0.6² = 0.46), not always.
    expect(same / total).toBeGreaterThan(0.42);
    expect(same / total).toBeLessThan(0.5);
  });
});

describe("checkFlagDefinition bounds", () => {
  it("caps variants, conditions, value sizes and string lengths", () => {
    const issues = (body: Record<string, unknown>) => {
      try {
        checkFlagDefinition("k", body);
        return [];
      } catch (error) {
        return ((error as { details: { issues: { path: string }[] } }).details.issues ?? []).map((issue) => issue.path);
      }
    };
    const many = Object.fromEntries(Array.from({ length: FLAG_LIMITS.variants + 1 }, (_, i) => [`v${i}`, i]));
    expect(issues({ type: "number", variants: many, default_variant: "v0" })).toEqual(["variants"]);
    expect(issues({ type: "object", variants: { big: { blob: "x".repeat(5000) } }, default_variant: "big" })).toEqual([
      "variants.big",
    ]);
    expect(issues({ type: "object", variants: { list: [1] }, default_variant: "list" })).toEqual(["variants.list"]);
    const conditions = Array.from({ length: FLAG_LIMITS.conditions + 1 }, () => ({ attribute: "a", op: "exists" }));
    expect(
      issues({
        type: "number",
        variants: { one: 1 },
        default_variant: "one",
        rules: [{ when: conditions, variant: "one" }],
      }),
    ).toEqual(["rules.0.when"]);
    const long = [{ attribute: "a", op: "eq", value: "x".repeat(FLAG_LIMITS.stringChars + 1) }];
    expect(
      issues({ type: "number", variants: { one: 1 }, default_variant: "one", rules: [{ when: long, variant: "one" }] }),
    ).toEqual(["rules.0.when.0.value"]);
    expect(issues({ type: "number", variants: { inf: Number.POSITIVE_INFINITY }, default_variant: "inf" })).toEqual([
      "variants.inf",
    ]);
    expect(issues({ type: "number", variants: {}, default_variant: "x" })).toEqual(["variants"]);
  });
});

describe("checkEvaluationContext", () => {
  it("accepts an object or nothing, and refuses what OFREP calls INVALID_CONTEXT", () => {
    expect(checkEvaluationContext(undefined)).toEqual({ ok: true, context: {} });
    expect(checkEvaluationContext({ targetingKey: "a", plan: "beta", n: 1, nested: { x: [1] } })).toMatchObject({
      ok: true,
    });
    for (const bad of [
      [],
      "ctx",
      7,
      { targetingKey: 7 },
      { long: "x".repeat(FLAG_LIMITS.contextStringChars + 1) },
      Object.fromEntries(Array.from({ length: FLAG_LIMITS.contextAttributes + 1 }, (_, i) => [`a${i}`, i])),
      { blob: Array.from({ length: 2000 }, () => "abcdefghij") },
    ]) {
      expect(checkEvaluationContext(bad)).toMatchObject({ ok: false });
    }
  });

  it("keeps an attribute named __proto__ as data", () => {
    const checked = checkEvaluationContext(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(checked.ok).toBe(true);
    if (checked.ok) {
      expect(Object.hasOwn(checked.context, "__proto__")).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });
});

describe("gate flags", () => {
  it("answer their built-in defaults when undefined, without a set, or when the definition misbehaves", () => {
    const empty: FlagSet = { version: "0", flags: {} };
    expect(gateValue(undefined, "voice.enabled", {})).toBe(true);
    expect(gateValue(empty, "rag.hybrid", {})).toBe(true);
    expect(gateValue(empty, "si.models", {})).toEqual({ models: ["*"] });
    const wrongType = setOf([
      definition("voice.enabled", { type: "string", variants: { x: "no" }, default_variant: "x" }),
    ]);
    expect(gateValue(wrongType, "voice.enabled", {})).toBe(true);
    const withDefaults = withGateDefaults(empty);
    expect(Object.keys(withDefaults.flags).sort()).toEqual(Object.keys(GATE_FLAGS).sort());
    expect(evaluateFlag(withDefaults, "scaffold.enabled", {})).toMatchObject({
      value: true,
      reason: "STATIC",
      variant: "on",
    });
  });

  it("follow a defined flag and its overrides", () => {
    const voice = { ...GATE_FLAGS["voice.enabled"], default_variant: "off" };
    const set = setOf([voice, { "guest:keep": "on" }]);
    expect(gateValue(set, "voice.enabled", { targetingKey: "guest:other" })).toBe(false);
    expect(gateValue(set, "voice.enabled", { targetingKey: "guest:keep" })).toBe(true);
    const models = definition("si.models", {
      type: "object",
      variants: { all: { models: ["*"] }, small: { models: ["groq/gpt-oss-20b"] } },
      default_variant: "small",
    });
    const value = gateValue(setOf([models]), "si.models", {});
    expect(modelAllowed(value, "groq/gpt-oss-20b")).toBe(true);
    expect(modelAllowed(value, "openai/gpt-5")).toBe(false);
    expect(modelAllowed({ models: ["*"] }, "openai/gpt-5")).toBe(true);
  });
});
