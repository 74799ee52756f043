/**
 * What a metered answer reports about its cost. The gateway turns it into the billing headers
 * `X-Credits-Used`, `X-Credits-Balance`, `X-Tokens-In`, `X-Tokens-Out`, `X-Provider`, `X-Model`, and for
 * speech `X-Characters` (text spoken) and `X-Audio-Seconds` (audio transcribed).
 * Credit amounts are decimal strings so no float ever touches money on the way out.
 */
export interface Meter {
  creditsUsed?: string;
  creditsBalance?: string;
  tokensIn?: number;
  tokensOut?: number;
  provider?: string;
  model?: string;
  characters?: number;
  audioSeconds?: number;
}

/** The header each Meter field is written to. */
export const METER_HEADERS: Record<keyof Meter, string> = {
  creditsUsed: "X-Credits-Used",
  creditsBalance: "X-Credits-Balance",
  tokensIn: "X-Tokens-In",
  tokensOut: "X-Tokens-Out",
  provider: "X-Provider",
  model: "X-Model",
  characters: "X-Characters",
  audioSeconds: "X-Audio-Seconds",
};

/** Writes a meter's fields onto response headers; absent fields are left out. */
export function applyMeter(headers: Headers, meter: Meter): void {
  for (const [field, header] of Object.entries(METER_HEADERS) as [keyof Meter, string][]) {
    const value = meter[field];
    if (value !== undefined) headers.set(header, String(value));
  }
}
