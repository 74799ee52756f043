import { describe, expect, it } from "vitest";
import { isServiceError } from "../src/errors";
import { declareSettings, readSetting, setting } from "../src/settings";

const DECLARED = declareSettings("test", {
  COUNT: setting.integer({ default: 5, min: 1, max: 10, meaning: "a count" }),
  PRICE: setting.decimal({ default: "0.5", places: 6, max: 1_000, meaning: "a price" }),
  ON: setting.boolean({ default: false, meaning: "a switch" }),
  MODE: setting.oneOf(["fast", "slow"], { default: "slow", meaning: "a mode" }),
  KEY: setting.text({ secret: true, meaning: "a secret" }),
  DAY: setting.text({
    default: "2026-03-01",
    format: { pattern: /^\d{4}-\d{2}-\d{2}$/, description: "a date" },
    meaning: "a date",
  }),
  BASE: setting.url({ default: "https://example.com/v1", meaning: "a URL" }),
  TYPES: setting.list({ default: "a,b", lowercase: true, meaning: "a list" }),
});

function notConfigured(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    if (isServiceError(error) && error.code === "not_configured") return error.message;
    throw error;
  }
  throw new Error("expected not_configured");
}

describe("declared settings", () => {
  it("takes every default when nothing is set, and treats blank as unset", () => {
    const defaults = {
      COUNT: 5,
      PRICE: "0.5",
      ON: false,
      MODE: "slow",
      KEY: undefined,
      DAY: "2026-03-01",
      BASE: "https://example.com/v1",
      TYPES: ["a", "b"],
    };
    expect(DECLARED.read({})).toEqual(defaults);
    const blank = { COUNT: "", PRICE: " ", ON: "", MODE: "  ", KEY: "", DAY: "", BASE: "", TYPES: " " };
    expect(DECLARED.read(blank)).toEqual(defaults);
  });

  it("reads set values into their types, trimmed, frozen", () => {
    const read = DECLARED.read({
      COUNT: " 10 ",
      PRICE: "12.000001",
      ON: "Yes",
      MODE: "fast",
      KEY: " s3cret\n",
      DAY: "2030-01-02",
      BASE: "http://127.0.0.1:9/v1//",
      TYPES: " Text/Plain , ,image/PNG",
    });
    expect(read).toEqual({
      COUNT: 10,
      PRICE: "12.000001",
      ON: true,
      MODE: "fast",
      KEY: "s3cret",
      DAY: "2030-01-02",
      BASE: "http://127.0.0.1:9/v1",
      TYPES: ["text/plain", "image/png"],
    });
    expect(Object.isFrozen(read)).toBe(true);
    expect(Object.isFrozen(read.TYPES)).toBe(true);
  });

  it.each([
    ["COUNT", "0"],
    ["COUNT", "11"],
    ["COUNT", "2.5"],
    ["COUNT", "1e1x"],
    ["COUNT", "9007199254740993"],
    ["PRICE", "-1"],
    ["PRICE", "0.0000001"],
    ["PRICE", "1000.5"],
    ["PRICE", "1e3"],
    ["ON", "maybe"],
    ["MODE", "FAST"],
    ["DAY", "yesterday"],
    ["BASE", "ftp://example.com"],
    ["BASE", "example.com"],
  ])("refuses %s=%j as not_configured, naming the setting", (name, value) => {
    expect(notConfigured(() => DECLARED.read({ [name]: value }))).toMatch(new RegExp(`^${name} must be `));
  });

  it("refuses a binding where a var is declared", () => {
    expect(notConfigured(() => readSetting("COUNT", DECLARED.specs.COUNT, 7))).toContain("COUNT");
  });

  it("returns the same object while the values are unchanged, and sees a change at once", () => {
    const env: Record<string, string> = { COUNT: "3" };
    const first = DECLARED.read(env);
    expect(DECLARED.read({ COUNT: "3" })).toBe(first);
    env.COUNT = "4";
    expect(DECLARED.read(env).COUNT).toBe(4);
    // A bad value is refused every time it is read, never cached as the last good one.
    env.COUNT = "40";
    expect(() => DECLARED.read(env)).toThrow("COUNT");
    expect(() => DECLARED.read(env)).toThrow("COUNT");
    env.COUNT = "3";
    expect(DECLARED.read(env).COUNT).toBe(3);
  });
});
