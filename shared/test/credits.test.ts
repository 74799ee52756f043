import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  AdjustRequest,
  CREDITS_PER_USD,
  creditsToMicro,
  formatCredits,
  MAX_CREDITS,
  microToCredits,
  readSetting,
  tokenCost,
  usdPerMToMicroPerM,
} from "../src/index";

describe("credit amounts", () => {
  it("converts decimal credits to integer micro-credits exactly", () => {
    expect(creditsToMicro(0.1)).toBe(100_000);
    expect(creditsToMicro(0.3)).toBe(300_000);
    expect(creditsToMicro(1.000001)).toBe(1_000_001);
    expect(creditsToMicro(-2.5)).toBe(-2_500_000);
    expect(creditsToMicro("7.25")).toBe(7_250_000);
    expect(creditsToMicro(MAX_CREDITS)).toBe(MAX_CREDITS * 1_000_000);
  });

  it("refuses more than 6 decimals, non-finite values and amounts beyond the maximum", () => {
    for (const bad of [
      0.0000001,
      1e-7,
      1.0000001,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1e10,
      -1e10,
      MAX_CREDITS + 1,
      "1e3",
      "abc",
      "",
    ]) {
      expect(creditsToMicro(bad), String(bad)).toBeUndefined();
    }
  });

  it("round-trips every micro-credit amount through its public number", () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_CREDITS * 1_000_000, max: MAX_CREDITS * 1_000_000 }), (micro) => {
        const credits = microToCredits(micro);
        expect(creditsToMicro(credits)).toBe(micro);
        expect(formatCredits(micro)).toMatch(/^-?\d+(\.\d{1,6})?$/);
      }),
      { numRuns: 2000 },
    );
  });

  it("adds sums of decimal credits without float drift", () => {
    const total = Array.from({ length: 10 }, () => creditsToMicro(0.1) as number).reduce((a, b) => a + b, 0);
    expect(microToCredits(total)).toBe(1);
  });

  it("validates an adjust body into micro-credits", () => {
    expect(v.parse(AdjustRequest, { account: "guest:x1", delta: 1.5, reason: " refund " })).toEqual({
      account: "guest:x1",
      delta: 1_500_000,
      reason: "refund",
    });
    expect(v.safeParse(AdjustRequest, { account: "guest:x1", delta: 0, reason: "x" }).success).toBe(false);
  });
});

describe("provider prices in micro-credits", () => {
  it("converts US dollars per million tokens exactly, with one CREDITS_PER_USD rule", () => {
    const creditsPerUsd = (value: string | undefined) => readSetting("CREDITS_PER_USD", CREDITS_PER_USD, value);
    expect(creditsPerUsd(undefined)).toBe(100);
    expect(creditsPerUsd(" ")).toBe(100);
    expect(creditsPerUsd("250")).toBe(250);
    for (const bad of ["0", "1.5", "-3", "1000001", "ten"]) expect(() => creditsPerUsd(bad)).toThrow("CREDITS_PER_USD");
    // bge-base-en-v1.5: $0.067 per M at 100 credits per USD is 6.7 micro-credits per token.
    expect(usdPerMToMicroPerM(0.067, 100)).toBe(6_700_000);
    expect(usdPerMToMicroPerM("0.067", 100)).toBe(6_700_000);
    expect(usdPerMToMicroPerM(0.1234567, 100)).toBeUndefined();
    expect(usdPerMToMicroPerM(-1, 100)).toBeUndefined();
    expect(tokenCost(9, 6_700_000)).toBe(61); // 60.3, rounded up
    expect(tokenCost(1_000_000, 6_700_000)).toBe(6_700_000);
    expect(tokenCost(0, 6_700_000)).toBe(0);
  });
});
