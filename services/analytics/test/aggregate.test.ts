import { describe, expect, it } from "vitest";
import { aggregate, decimalSeconds, hoursTouched, type RollupEvent } from "../src/rollup";

const HOUR = 3_600_000;

function event(overrides: Partial<RollupEvent>): RollupEvent {
  return {
    account: "a",
    provider: "p",
    model: "m",
    tokens_in: 0,
    tokens_out: 0,
    credits: 0,
    source: "si",
    ...overrides,
  };
}

describe("aggregate", () => {
  it("keeps names apart that a separator would run together", () => {
    const rows = aggregate([
      event({ account: "a|b", provider: "c" }),
      event({ account: "a", provider: "b|c" }),
      event({ account: "a", provider: "b", model: "c|m" }),
    ]);
    expect(rows).toHaveLength(3);
  });

  it("recovers integer micro-credits and audio milliseconds exactly from the events' decimals", () => {
    const events = Array.from({ length: 1000 }, (_, i) =>
      event({ credits: (i % 7) / 1e6 + 0.000003, audio_seconds: i % 3 === 0 ? 1.001 : undefined, characters: 2 }),
    );
    const [row] = aggregate(events);
    let micro = 0;
    for (let i = 0; i < 1000; i++) micro += (i % 7) + 3;
    expect(row).toMatchObject({ requests: 1000, credits_micro: micro, audio_ms: 334 * 1001, characters: 2000 });
    expect(decimalSeconds(334 * 1001)).toBe("334.334");
    expect(decimalSeconds(7)).toBe("0.007");
  });

  it("counts estimated, client and embedding events, and ignores amounts that are not whole and positive", () => {
    const [row] = aggregate([
      event({ estimated: true, source: "rag", tokens_in: 40 }),
      event({ source: "client", tokens_in: -5, tokens_out: Number.NaN }),
      event({ source: "voice", characters: 12 }),
    ]);
    expect(row).toMatchObject({
      requests: 3,
      tokens_in: 40,
      tokens_out: 0,
      estimated_requests: 1,
      client_requests: 1,
      embedding_requests: 1,
      embedding_tokens: 40,
      characters: 12,
    });
  });

  it("lists every hour a range touches, both ends included", () => {
    const start = Date.UTC(2026, 11, 1, 10);
    expect(hoursTouched(start + 1, start + HOUR)).toEqual([start, start + HOUR]);
    expect(hoursTouched(start, start)).toEqual([start]);
    expect(hoursTouched(start - 1, start + 2 * HOUR - 1)).toEqual([start - HOUR, start, start + HOUR]);
  });
});
