import { describe, expect, it } from "vitest";
import { guestAddressBuckets, UNKNOWN_ADDRESS_BUCKET } from "../src/client-address";

/** The narrowest bucket: an IPv6 /64, an IPv4 address, or the shared one. */
function guestAddressBucket(raw: string | null | undefined): string | undefined {
  return guestAddressBuckets(raw)[0]?.name;
}

/** Every bucket, narrowest first, with its multiple of the per-address limit. */
function allBuckets(raw: string | null | undefined): string[] {
  return guestAddressBuckets(raw).map((bucket) => `${bucket.name} ×${bucket.multiple}`);
}

describe("guestAddressBuckets", () => {
  it("keys an IPv4 address by the address alone", () => {
    expect(allBuckets("203.0.113.7")).toEqual(["ip:203.0.113.7 ×1"]);
    expect(guestAddressBucket(" 0.0.0.0 ")).toBe("ip:0.0.0.0");
    expect(guestAddressBucket("255.255.255.255")).toBe("ip:255.255.255.255");
  });

  it("keys an IPv6 address by its /64, however it is written", () => {
    const bucket = "ip:2001:db8:a:b::/64";
    for (const form of [
      "2001:db8:a:b::1",
      "2001:DB8:A:B:FFFF:FFFF:FFFF:FFFF",
      "2001:0db8:000a:000b:0:0:0:0",
      "2001:db8:a:b::",
      "2001:db8:a:b:1::2",
      "fe80::1%eth0".replace("fe80::1", "2001:db8:a:b::1"),
      "2001:db8:a:b::1.2.3.4",
      "2001:db8:a:b:c:d:1.2.3.4",
    ])
      expect(guestAddressBucket(form), form).toBe(bucket);
    expect(guestAddressBucket("2001:db8:a:c::1")).toBe("ip:2001:db8:a:c::/64");
    expect(guestAddressBucket("::")).toBe("ip:0:0:0:0::/64");
    expect(guestAddressBucket("::1")).toBe("ip:0:0:0:0::/64");
    expect(guestAddressBucket("1::")).toBe("ip:1:0:0:0::/64");
    expect(guestAddressBucket("fe80::1%25en0")).toBe("ip:fe80:0:0:0::/64");
  });

  it("nests an IPv6 /64 in its /56 at twice and its /48 at four times the per-address limit", () => {
    expect(allBuckets("2001:db8:a:1234::1")).toEqual([
      "ip:2001:db8:a:1234::/64 ×1",
      "ip:2001:db8:a:1200::/56 ×2",
      "ip:2001:db8:a::/48 ×4",
    ]);
    for (const [address, slash56] of [
      ["2001:db8:a:12ff:ffff::1", "ip:2001:db8:a:1200::/56"],
      ["2001:db8:a:ff::1", "ip:2001:db8:a:0::/56"],
      ["::1", "ip:0:0:0:0::/56"],
      ["fe80::1%eth0", "ip:fe80:0:0:0::/56"],
    ])
      expect(guestAddressBuckets(address)[1]?.name, address).toBe(slash56);
    // A /64 of another /56 of the same /48: a different /56, the same /48.
    expect(allBuckets("2001:DB8:A:1300::1").slice(1)).toEqual(["ip:2001:db8:a:1300::/56 ×2", "ip:2001:db8:a::/48 ×4"]);
  });

  it("counts an IPv4-mapped IPv6 address as its IPv4 address", () => {
    expect(allBuckets("::ffff:198.51.100.9")).toEqual(["ip:198.51.100.9 ×1"]);
    expect(guestAddressBucket("::FFFF:c633:6409")).toBe("ip:198.51.100.9");
    expect(guestAddressBucket("0:0:0:0:0:ffff:198.51.100.9")).toBe("ip:198.51.100.9");
    // Not mapped: a different prefix before ffff.
    expect(guestAddressBucket("::1:ffff:198.51.100.9")).toBe("ip:0:0:0:0::/64");
  });

  it("puts a missing or malformed address in the one shared bucket", () => {
    for (const bad of [
      null,
      undefined,
      "",
      "   ",
      "not-an-address",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1..2.3",
      "1.2.3.4%eth0",
      ":",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1::2::3",
      "12345::",
      "::ffff:256.1.1.1",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "1:2:3:4:5:6:7::8",
      "g::",
      ":1::",
      "1::2:",
      "::%",
      "[2001:db8::1]",
      `2001:db8::1%${"z".repeat(100)}`,
    ])
      expect(allBuckets(bad), String(bad)).toEqual([`${UNKNOWN_ADDRESS_BUCKET} ×1`]);
  });

  it("answers 100 KB of hostile input in one pass", () => {
    for (const hostile of [
      ":".repeat(100_000),
      "1:".repeat(50_000),
      "1.".repeat(50_000),
      `${"f".repeat(100_000)}::`,
      `::${"1.".repeat(50_000)}`,
      `1%${"%".repeat(100_000)}`,
    ])
      expect(allBuckets(hostile)).toEqual([`${UNKNOWN_ADDRESS_BUCKET} ×1`]);
  });
});
