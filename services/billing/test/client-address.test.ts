import { describe, expect, it } from "vitest";
import { guestAddressBucket, UNKNOWN_ADDRESS_BUCKET } from "../src/client-address";

describe("guestAddressBucket", () => {
  it("keys an IPv4 address by the address", () => {
    expect(guestAddressBucket("203.0.113.7")).toBe("ip:203.0.113.7");
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

  it("counts an IPv4-mapped IPv6 address as its IPv4 address", () => {
    expect(guestAddressBucket("::ffff:198.51.100.9")).toBe("ip:198.51.100.9");
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
      expect(guestAddressBucket(bad), String(bad)).toBe(UNKNOWN_ADDRESS_BUCKET);
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
      expect(guestAddressBucket(hostile)).toBe(UNKNOWN_ADDRESS_BUCKET);
  });
});
