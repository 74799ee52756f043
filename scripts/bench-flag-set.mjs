// The 50 flags the flags benchmarks evaluate in one bulk OFREP request (bench:flags, bench:load).

/** How many flags {@link benchFlags} defines. */
export const BENCH_FLAG_COUNT = 50;

/** Fifty `[key, definition]` pairs of every type: statics, targeting rules, rollouts, disabled ones. */
export function benchFlags() {
  const flags = [];
  for (let i = 0; i < BENCH_FLAG_COUNT; i++) {
    const key = `bench.flag-${String(i).padStart(2, "0")}`;
    const kind = i % 5;
    if (kind === 0) flags.push([key, { type: "boolean", variants: { on: true, off: false }, default_variant: "on" }]);
    else if (kind === 1)
      flags.push([
        key,
        {
          type: "string",
          variants: { a: "alpha", b: "beta" },
          default_variant: "a",
          rules: [{ when: [{ attribute: "email_domain", op: "eq", value: "example.com" }], variant: "b" }],
        },
      ]);
    else if (kind === 2)
      flags.push([
        key,
        {
          type: "number",
          variants: { low: 1, high: 10 },
          default_variant: "low",
          rules: [
            {
              rollout: [
                { variant: "low", weight: 70 },
                { variant: "high", weight: 30 },
              ],
            },
          ],
        },
      ]);
    else if (kind === 3)
      flags.push([
        key,
        {
          type: "object",
          variants: { small: { limit: 5, tags: ["x"] }, large: { limit: 50, tags: ["x", "y"] } },
          default_variant: "small",
          rules: [
            { when: [{ attribute: "country", op: "in", value: ["DE", "FR", "NL"] }], variant: "large" },
            { when: [{ attribute: "account_age_days", op: "gte", value: 30 }], variant: "large" },
          ],
        },
      ]);
    else
      flags.push([
        key,
        { type: "boolean", variants: { on: true, off: false }, default_variant: "off", enabled: false },
      ]);
  }
  return flags;
}
