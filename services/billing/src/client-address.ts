// Which buckets a guest-token request counts against. One subscriber holds at least a whole IPv6 /64
// and is usually delegated a /56 or a /48, so an IPv6 request counts in three nested buckets: its /64
// with the per-address limit, its /56 and its /48 with a few times that, so one delegation cannot
// mint a /64's share for each of its 256 or 65,536 /64s. IPv4 counts per address only: an address is
// what one subscriber (or one NAT) has, and a /24 holds unrelated subscribers, often a carrier NAT
// pool, whom one shared bucket would lock out together. Anything that is not a well-formed address
// shares one bucket, so a missing or mangled header can never mean "no limit".
//
// Hand-written scans, no regular expressions: the input is bounded and each character is looked at a
// fixed number of times.

/** The bucket of requests without a usable client address. */
export const UNKNOWN_ADDRESS_BUCKET = "ip:unknown";

/** Longer than any address with a sensible zone id: refused before it is scanned. */
const MAX_ADDRESS_LENGTH = 100;

/**
 * What one subscriber's /56 and /48 may get, as multiples of what one /64 (one address) may: a home
 * with a /56 gets twice one address's tokens, a site with a /48 four times.
 */
const SLASH_56_MULTIPLE = 2;
const SLASH_48_MULTIPLE = 4;

/** One limit a guest-token request counts against. */
export interface GuestAddressBucket {
  /** Ledger object that counts it, e.g. `ip:2001:db8:1:200::/56`. */
  name: string;
  /** Its limit as a multiple of `GUEST_TOKENS_PER_MINUTE`. */
  multiple: number;
}

/**
 * The rate-limit buckets of a client address (`CF-Connecting-IP`), narrowest first: for IPv6
 * `ip:<first four groups>::/64`, then its `/56` and its `/48`; for IPv4 (and IPv4-mapped IPv6,
 * `::ffff:a.b.c.d`) `ip:<a.b.c.d>` alone; else the one shared `ip:unknown`.
 */
export function guestAddressBuckets(raw: string | null | undefined): GuestAddressBucket[] {
  if (typeof raw !== "string" || raw.length > MAX_ADDRESS_LENGTH)
    return [{ name: UNKNOWN_ADDRESS_BUCKET, multiple: 1 }];
  const address = raw.trim();
  if (address.includes(":")) {
    const groups = parseIpv6(address);
    if (!groups) return [{ name: UNKNOWN_ADDRESS_BUCKET, multiple: 1 }];
    if (isIpv4Mapped(groups)) {
      const [high, low] = [groups[6] as number, groups[7] as number];
      return [{ name: `ip:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`, multiple: 1 }];
    }
    const [a, b, c, d] = groups.map((group) => group.toString(16));
    const slash56 = ((groups[3] as number) & 0xff00).toString(16);
    return [
      { name: `ip:${a}:${b}:${c}:${d}::/64`, multiple: 1 },
      { name: `ip:${a}:${b}:${c}:${slash56}::/56`, multiple: SLASH_56_MULTIPLE },
      { name: `ip:${a}:${b}:${c}::/48`, multiple: SLASH_48_MULTIPLE },
    ];
  }
  const octets = parseIpv4(address);
  return [{ name: octets ? `ip:${octets.join(".")}` : UNKNOWN_ADDRESS_BUCKET, multiple: 1 }];
}

/** `::ffff:0:0/96`: an IPv4 client seen through a dual-stack socket. */
function isIpv4Mapped(groups: number[]): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}

/** Dotted-quad IPv4: four decimal octets 0-255, without leading zeros (which some read as octal). */
function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const octets: number[] = [];
  for (const part of parts) {
    if (part.length === 0 || part.length > 3 || (part.length > 1 && part[0] === "0")) return null;
    let value = 0;
    for (let i = 0; i < part.length; i++) {
      const digit = part.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return null;
      value = value * 10 + digit;
    }
    if (value > 255) return null;
    octets.push(value);
  }
  return octets;
}

/** 1-4 hex digits as a number, or null. */
function parseHexGroup(text: string): number | null {
  if (text.length === 0 || text.length > 4) return null;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i) | 0x20; // ASCII letters to lower case; digits are unchanged
    let digit: number;
    if (code >= 48 && code <= 57) digit = code - 48;
    else if (code >= 97 && code <= 102) digit = code - 87;
    else return null;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Groups of a colon-separated run (`a:b:c`, possibly ending in a dotted IPv4 when `last`), or null.
 * An empty run has no groups.
 */
function parseGroups(run: string, last: boolean): number[] | null {
  if (run.length === 0) return [];
  const parts = run.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (last && i === parts.length - 1 && part.includes(".")) {
      const octets = parseIpv4(part);
      if (!octets) return null;
      groups.push(
        ((octets[0] as number) << 8) | (octets[1] as number),
        ((octets[2] as number) << 8) | (octets[3] as number),
      );
      continue;
    }
    const group = parseHexGroup(part);
    if (group === null) return null;
    groups.push(group);
  }
  return groups;
}

/** RFC 4291 text form (with `::`, an embedded IPv4 tail, and an optional `%zone`) as eight groups. */
function parseIpv6(text: string): number[] | null {
  const percent = text.indexOf("%");
  if (percent !== -1) {
    // A zone id names the client's own interface: not part of the address.
    if (percent === text.length - 1) return null;
    text = text.slice(0, percent);
  }
  const gap = text.indexOf("::");
  if (gap === -1) {
    const groups = parseGroups(text, true);
    return groups && groups.length === 8 ? groups : null;
  }
  if (text.indexOf("::", gap + 1) !== -1) return null;
  const head = parseGroups(text.slice(0, gap), false);
  const tail = parseGroups(text.slice(gap + 2), true);
  // `::` stands for at least one zero group.
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
