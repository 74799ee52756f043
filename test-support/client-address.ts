// Guest tokens are limited per client address (an IPv6 /64, and its /56 and /48 at a few times that),
// and requests without an address share one bucket: a test that mints accounts gives each one an
// address of its own.

/** An IPv6 address in a /64 of its own, from the documentation range 2001:db8::/32. */
export function uniqueClientAddress(): string {
  const groups = crypto.getRandomValues(new Uint16Array(2));
  return `2001:db8:${groups[0]?.toString(16)}:${groups[1]?.toString(16)}::1`;
}
