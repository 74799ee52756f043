import murmurhash3js from "murmurhash3js";
import { describe, expect, it } from "vitest";
import { flagdHash, fractionalBucket, fractionalVariant } from "../src/flag-engine";

const QUARTERS = [
  { variant: "red", weight: 25 },
  { variant: "blue", weight: 25 },
  { variant: "green", weight: 25 },
  { variant: "yellow", weight: 25 },
];

describe("flagd fractional bucketing", () => {
  it("hashes with MurmurHash3 x86 32-bit, seed 0 (the algorithm's published vectors)", () => {
    expect(flagdHash("")).toBe(0);
    expect(flagdHash("hello")).toBe(0x248bfa47);
    expect(flagdHash("Hello, world!")).toBe(0xc0363e43);
  });

  // flagd core/pkg/evaluator/fractional_test.go: fractional over `$flagd.flagKey + email` with
  // four 25 % shares, and over `flagKey + targetingKey` with two halves.
  it("picks what flagd picks for the same flag key and targeting key", () => {
    expect(fractionalVariant("headerColor", "rachel@faas.com", QUARTERS)).toBe("blue");
    expect(fractionalVariant("headerColor", "monica@faas.com", QUARTERS)).toBe("yellow");
    expect(fractionalVariant("headerColor", "joey@faas.com", QUARTERS)).toBe("red");
    expect(fractionalVariant("headerColor", "ross@faas.com", QUARTERS)).toBe("blue");
    const halves = [
      { variant: "blue", weight: 50 },
      { variant: "green", weight: 50 },
    ];
    expect(fractionalVariant("headerColor", "foo@foo.com", halves)).toBe("green");
    const redBlue = [
      { variant: "red", weight: 50 },
      { variant: "blue", weight: 50 },
    ];
    expect(fractionalVariant("headerColor", "foo@foo.com", redBlue)).toBe("blue");
  });

  it("hashes the UTF-8 bytes, not UTF-16 code units", () => {
    // "é" is C3 A9 and "日" E6 97 A5 in UTF-8: the hash of those bytes, not of the code units.
    expect(flagdHash("é")).toBe(murmurhash3js.x86.hash32("\u00c3\u00a9", 0));
    expect(flagdHash("é")).not.toBe(murmurhash3js.x86.hash32("\u00e9", 0));
    expect(flagdHash("a日")).toBe(murmurhash3js.x86.hash32("a\u00e6\u0097\u00a5", 0));
  });

  it("maps a hash to [0, totalWeight) as floor(hash × total / 2^32)", () => {
    expect(fractionalBucket(0, 100)).toBe(0);
    expect(fractionalBucket(2 ** 32 - 1, 100)).toBe(99);
    expect(fractionalBucket(2 ** 31, 100)).toBe(50);
    expect(fractionalBucket(2 ** 31 - 1, 100)).toBe(49);
  });
});
