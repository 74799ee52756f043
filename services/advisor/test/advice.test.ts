import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { AdviceRequest } from "@cognomega/shared";
import { isServiceError } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { estimateCostMicro, savingPercent, tokenCostMicro } from "../src/advice";
import { AdvisorService } from "../src/index";

const call = { requestId: "advisor-test-0001" };

function advisor(overrides: Partial<AdvisorEnv> = {}): AdvisorService {
  return new AdvisorService(createExecutionContext(), { ...env, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string; details?: unknown }> {
  try {
    await promise;
  } catch (error) {
    if (isServiceError(error)) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

// A small catalog, prices in micro-credits per million tokens. Every estimate below is worked out
// by hand in the comments so a wrong formula cannot pass.
type Alternative = AdviceRequest["alternatives"][number];
const SERVED_ENTRY: Alternative = {
  model: "llama-3.3-70b-versatile",
  provider: "groq",
  tier: "large",
  price_in_per_m: 590_000,
  price_out_per_m: 790_000,
  latency_ms: 1_100,
};
const L8B_WORKERS_AI: Alternative = {
  model: "@cf/meta/llama-3.1-8b-instruct",
  provider: "workers-ai",
  tier: "small",
  price_in_per_m: 282_000,
  price_out_per_m: 827_000,
  latency_ms: 700,
};
const L8B_GROQ: Alternative = {
  model: "llama-3.1-8b-instant",
  provider: "groq",
  tier: "small",
  price_in_per_m: 50_000,
  price_out_per_m: 80_000,
  latency_ms: 300,
};
const OSS_20B: Alternative = {
  model: "openai/gpt-oss-20b",
  provider: "groq",
  tier: "medium",
  price_in_per_m: 75_000,
  price_out_per_m: 300_000,
  latency_ms: 450,
};
const MINI: Alternative = {
  model: "gpt-4o-mini",
  provider: "openai",
  tier: "small",
  price_in_per_m: 150_000,
  price_out_per_m: 600_000,
  latency_ms: 900,
};
const GPT_4O: Alternative = {
  model: "gpt-4o",
  provider: "openai",
  tier: "large",
  price_in_per_m: 2_500_000,
  price_out_per_m: 10_000_000,
  latency_ms: 2_000,
};
/** Costs exactly what the expensive call below cost: not strictly cheaper. No latency observed. */
const OSS_120B: Alternative = {
  model: "@cf/openai/gpt-oss-120b",
  provider: "workers-ai",
  tier: "large",
  price_in_per_m: 350_000,
  price_out_per_m: 1_750_000,
};
const CATALOG = [SERVED_ENTRY, L8B_WORKERS_AI, L8B_GROQ, OSS_20B, MINI, GPT_4O, OSS_120B];

/**
 * 20 000 in + 5 000 out on the 70B: 20 000 × 0.59 + 5 000 × 0.79 = 11 800 + 3 950 = 15 750 micro
 * (0.01575 credits), above the default 0.01 threshold. At the others' prices:
 * - llama-3.1-8b-instant: 1 000 + 400 = 1 400 (saving 14 350, 91.1 % → 91)
 * - gpt-oss-20b:          1 500 + 1 500 = 3 000 (saving 12 750, 80.9 % → 80)
 * - gpt-4o-mini:          3 000 + 3 000 = 6 000 (saving 9 750, 61.9 % → 61)
 * - 8b on workers-ai:     5 640 + 4 135 = 9 775 (saving 5 975, 37.9 % → 37): 4th, cut by the cap
 * - gpt-oss-120b:         7 000 + 8 750 = 15 750: equal, not cheaper
 * - gpt-4o:               50 000 + 50 000 = 100 000: dearer
 */
function expensiveCall(overrides: Partial<AdviceRequest["served"]> = {}, alternatives = CATALOG): AdviceRequest {
  return {
    served: {
      model: SERVED_ENTRY.model,
      provider: "groq",
      tier: "large",
      tokens_in: 20_000,
      tokens_out: 5_000,
      cost_micro: 15_750,
      latency_ms: 1_200,
      ...overrides,
    },
    alternatives,
  };
}

/**
 * 2 000 in + 500 out on the 70B: 1 180 + 395 = 1 575 micro (0.001575 credits), under the cost
 * threshold, but 6 200 ms is over the 4 000 ms one. At the others' prices:
 * - llama-3.1-8b-instant: 100 + 40 = 140 (saving 1 435, 91.1 % → 91), 300 ms
 * - gpt-oss-20b:          150 + 150 = 300 (saving 1 275, 80.9 % → 80), 450 ms
 * - 8b on workers-ai:     564 + ceil(413.5) = 978 (saving 597, 37.9 % → 37), 700 ms
 * - gpt-4o-mini:          900 ms, 4th fastest, cut by the cap
 */
function slowCall(overrides: Partial<AdviceRequest["served"]> = {}, alternatives = CATALOG): AdviceRequest {
  return {
    served: {
      model: SERVED_ENTRY.model,
      provider: "groq",
      tier: "large",
      tokens_in: 2_000,
      tokens_out: 500,
      cost_micro: 1_575,
      latency_ms: 6_200,
      ...overrides,
    },
    alternatives,
  };
}

describe("estimates", () => {
  it("rounds each side up to a whole micro-credit", () => {
    expect(tokenCostMicro(1, 1)).toBe(1);
    expect(tokenCostMicro(3, 333_333)).toBe(1); // 0.999999
    expect(tokenCostMicro(1_000_001, 1)).toBe(2); // 1.000001
    expect(tokenCostMicro(1_000_000, 1)).toBe(1); // exact: no extra micro-credit
    expect(tokenCostMicro(0, 10_000_000)).toBe(0);
    expect(tokenCostMicro(500, 827_000)).toBe(414); // 413.5
    // Per side, not on the sum: 0.5 + 0.5 is billed 2, not 1.
    expect(
      estimateCostMicro({ tokens_in: 1, tokens_out: 1 }, { price_in_per_m: 500_000, price_out_per_m: 500_000 }),
    ).toBe(2);
  });

  it("stays exact where the product passes 2^53", () => {
    // 99 999 999 × 999 999 999 999 = 99 999 998 999 900 000 001; / 10^6 rounded up = 99 999 998 999 901.
    expect(tokenCostMicro(99_999_999, 999_999_999_999)).toBe(99_999_998_999_901);
    expect(tokenCostMicro(100_000_000, 1_000_000_000_000)).toBe(100_000_000_000_000);
  });

  it("floors the saving percent, also below zero", () => {
    expect(savingPercent(15_750, 1_400)).toBe(91);
    expect(savingPercent(3, 2)).toBe(33);
    expect(savingPercent(3, 4)).toBe(-34); // -33.3 floors to -34
    expect(savingPercent(100, 200)).toBe(-100);
    expect(savingPercent(100, 100)).toBe(0);
    expect(savingPercent(0, 50)).toBe(0); // a free call has no base for a percentage
  });
});

describe("cost advice", () => {
  it("offers the three cheapest strictly cheaper models with exact savings", async () => {
    const advice = await advisor().advise(expensiveCall(), call);
    expect(advice).toStrictEqual({
      reason: "cost",
      message:
        "This call cost 0.01575 credits on llama-3.3-70b-versatile (groq); llama-3.1-8b-instant (groq) would have " +
        "cost about 0.0014, saving 0.01435 credits (91%).",
      alternatives: [
        {
          model: "llama-3.1-8b-instant",
          provider: "groq",
          estimated_credits: 0.0014,
          estimated_saving_credits: 0.01435,
          estimated_saving_percent: 91,
          estimated_latency_ms: 300,
        },
        {
          model: "openai/gpt-oss-20b",
          provider: "groq",
          estimated_credits: 0.003,
          estimated_saving_credits: 0.01275,
          estimated_saving_percent: 80,
          estimated_latency_ms: 450,
        },
        {
          model: "gpt-4o-mini",
          provider: "openai",
          estimated_credits: 0.006,
          estimated_saving_credits: 0.00975,
          estimated_saving_percent: 61,
          estimated_latency_ms: 900,
        },
      ],
    });
  });

  it("lists fewer than three when fewer are cheaper, and leaves out equal, dearer and the served model", async () => {
    // The served model listed at a price that would make it look cheapest must still be left out.
    const servedCheap: Alternative = { ...SERVED_ENTRY, price_in_per_m: 1, price_out_per_m: 1 };
    // The same model id at another provider is a genuine alternative: 20 000 × 0.2 + 5 000 × 0.3 = 5 500.
    const sameModelElsewhere: Alternative = {
      ...SERVED_ENTRY,
      provider: "workers-ai",
      price_in_per_m: 200_000,
      price_out_per_m: 300_000,
    };
    const advice = await advisor().advise(
      expensiveCall({}, [servedCheap, GPT_4O, OSS_120B, L8B_WORKERS_AI, sameModelElsewhere]),
      call,
    );
    expect(advice?.reason).toBe("cost");
    expect(advice?.alternatives).toStrictEqual([
      {
        model: "llama-3.3-70b-versatile",
        provider: "workers-ai",
        estimated_credits: 0.0055,
        estimated_saving_credits: 0.01025, // 15 750 − 5 500
        estimated_saving_percent: 65, // 65.07
        estimated_latency_ms: 1_100,
      },
      {
        model: "@cf/meta/llama-3.1-8b-instruct",
        provider: "workers-ai",
        estimated_credits: 0.009775,
        estimated_saving_credits: 0.005975,
        estimated_saving_percent: 37,
        estimated_latency_ms: 700,
      },
    ]);
  });

  it("omits the latency of a model never observed, and breaks cost ties by latency", async () => {
    // Both cost 20 000 × 0.1 + 5 000 × 0.1 = 2 500; the observed one comes first.
    const unobserved: Alternative = {
      model: "a-unobserved",
      provider: "openai",
      tier: "small",
      price_in_per_m: 100_000,
      price_out_per_m: 100_000,
    };
    const observed: Alternative = { ...unobserved, model: "z-observed", latency_ms: 812.6 };
    const advice = await advisor().advise(expensiveCall({}, [unobserved, observed]), call);
    expect(advice?.alternatives.map((alternative) => alternative.model)).toEqual(["z-observed", "a-unobserved"]);
    expect(advice?.alternatives[0]?.estimated_latency_ms).toBe(813);
    expect(advice?.alternatives[1]).not.toHaveProperty("estimated_latency_ms");
    expect(advice?.alternatives[1]?.estimated_credits).toBe(0.0025);
  });

  it("needs the cost strictly above the threshold", async () => {
    // Default 0.01 credits = 10 000 micro-credits; the alternatives are priced to be far cheaper.
    await expect(advisor().advise(expensiveCall({ cost_micro: 10_000 }), call)).resolves.toBeNull();
    const advice = await advisor().advise(expensiveCall({ cost_micro: 10_001 }), call);
    expect(advice?.reason).toBe("cost");
    expect(advice?.alternatives[0]?.estimated_saving_credits).toBe(0.008601); // 10 001 − 1 400
  });

  it("returns null when the call was dear but nothing is cheaper and it was not slow", async () => {
    await expect(advisor().advise(expensiveCall({}, [SERVED_ENTRY, GPT_4O, OSS_120B]), call)).resolves.toBeNull();
  });
});

describe("latency advice", () => {
  it("offers the three fastest models faster than the served one, with cost estimates", async () => {
    const advice = await advisor().advise(slowCall(), call);
    expect(advice).toStrictEqual({
      reason: "latency",
      message:
        "This call took 6200 ms on llama-3.3-70b-versatile (groq); llama-3.1-8b-instant (groq) usually answers in " +
        "about 300 ms, saving 0.001435 credits.",
      alternatives: [
        {
          model: "llama-3.1-8b-instant",
          provider: "groq",
          estimated_credits: 0.00014,
          estimated_saving_credits: 0.001435,
          estimated_saving_percent: 91,
          estimated_latency_ms: 300,
        },
        {
          model: "openai/gpt-oss-20b",
          provider: "groq",
          estimated_credits: 0.0003,
          estimated_saving_credits: 0.001275,
          estimated_saving_percent: 80,
          estimated_latency_ms: 450,
        },
        {
          model: "@cf/meta/llama-3.1-8b-instruct",
          provider: "workers-ai",
          estimated_credits: 0.000978,
          estimated_saving_credits: 0.000597,
          estimated_saving_percent: 37,
          estimated_latency_ms: 700,
        },
      ],
    });
  });

  it("reports a faster but dearer model with a negative saving", async () => {
    // gpt-4o: 2 000 × 2.5 + 500 × 10 = 10 000 micro; saving 1 575 − 10 000 = −8 425 (−534.9 % → −535).
    // gpt-oss-120b has no observed latency and the served entry is the served model: neither is offered.
    const advice = await advisor().advise(slowCall({}, [SERVED_ENTRY, GPT_4O, OSS_120B]), call);
    expect(advice).toStrictEqual({
      reason: "latency",
      message:
        "This call took 6200 ms on llama-3.3-70b-versatile (groq); gpt-4o (openai) usually answers in about 2000 ms, " +
        "costing about 0.008425 credits more.",
      alternatives: [
        {
          model: "gpt-4o",
          provider: "openai",
          estimated_credits: 0.01,
          estimated_saving_credits: -0.008425,
          estimated_saving_percent: -535,
          estimated_latency_ms: 2_000,
        },
      ],
    });
  });

  it("offers only models strictly faster than the served call", async () => {
    // Served in 4 500 ms (over 4 000): a model observed at exactly 4 500 ms is not faster.
    const same: Alternative = { ...L8B_GROQ, latency_ms: 4_500 };
    await expect(advisor().advise(slowCall({ latency_ms: 4_500 }, [same, OSS_120B]), call)).resolves.toBeNull();
    const advice = await advisor().advise(slowCall({ latency_ms: 4_500.5 }, [same]), call);
    expect(advice?.alternatives.map((alternative) => alternative.estimated_latency_ms)).toEqual([4_500]);
  });

  it("needs the latency strictly above the threshold", async () => {
    await expect(advisor().advise(slowCall({ latency_ms: 4_000 }), call)).resolves.toBeNull();
    const advice = await advisor().advise(slowCall({ latency_ms: 4_001 }), call);
    expect(advice?.reason).toBe("latency");
    expect(advice?.alternatives).toHaveLength(3);
  });
});

describe("precedence and silence", () => {
  it("gives cost advice when both thresholds are crossed", async () => {
    const advice = await advisor().advise(expensiveCall({ latency_ms: 6_200 }), call);
    expect(advice?.reason).toBe("cost");
    expect(advice?.alternatives.map((alternative) => alternative.model)).toEqual([
      "llama-3.1-8b-instant",
      "openai/gpt-oss-20b",
      "gpt-4o-mini",
    ]);
  });

  it("falls back to latency advice when a dear, slow call has nothing cheaper", async () => {
    // 15 750 micro served; gpt-4o estimates 100 000 → saving −84 250 (−534.9 % → −535).
    const advice = await advisor().advise(expensiveCall({ latency_ms: 6_200 }, [GPT_4O, OSS_120B]), call);
    expect(advice?.reason).toBe("latency");
    expect(advice?.alternatives).toStrictEqual([
      {
        model: "gpt-4o",
        provider: "openai",
        estimated_credits: 0.1,
        estimated_saving_credits: -0.08425,
        estimated_saving_percent: -535,
        estimated_latency_ms: 2_000,
      },
    ]);
  });

  it("returns null when no threshold is crossed", async () => {
    await expect(advisor().advise(slowCall({ latency_ms: 1_200 }), call)).resolves.toBeNull();
  });

  it("returns null when there are no alternatives at all", async () => {
    await expect(advisor().advise(expensiveCall({ latency_ms: 9_000 }, []), call)).resolves.toBeNull();
  });
});

describe("thresholds from env", () => {
  it("reads the cost threshold from ADVISOR_COST_CREDITS", async () => {
    // 0.01575 credits is under 0.5: no cost advice, and 1 200 ms is not slow.
    await expect(advisor({ ADVISOR_COST_CREDITS: "0.5" }).advise(expensiveCall(), call)).resolves.toBeNull();
    // 0.001575 is above 0.001: the cheap call gets cost advice (140 micro → saving 1 435).
    const advice = await advisor({ ADVISOR_COST_CREDITS: "0.001" }).advise(slowCall({ latency_ms: 100 }), call);
    expect(advice?.reason).toBe("cost");
    expect(advice?.alternatives[0]).toMatchObject({
      model: "llama-3.1-8b-instant",
      estimated_saving_credits: 0.001435,
    });
  });

  it("reads the latency threshold from ADVISOR_LATENCY_MS", async () => {
    await expect(advisor({ ADVISOR_LATENCY_MS: "7000" }).advise(slowCall(), call)).resolves.toBeNull();
    // 1 200 ms is above 1 000: three models observed faster (300, 450, 700 ms).
    const advice = await advisor({ ADVISOR_LATENCY_MS: "1000" }).advise(slowCall({ latency_ms: 1_200 }), call);
    expect(advice?.reason).toBe("latency");
    expect(advice?.alternatives.map((alternative) => alternative.estimated_latency_ms)).toEqual([300, 450, 700]);
  });

  it("uses the deployed defaults from wrangler.jsonc", () => {
    expect(env.ADVISOR_COST_CREDITS).toBe("0.01");
    expect(env.ADVISOR_LATENCY_MS).toBe("4000");
  });

  it("reads a blank threshold as its declared default, like every setting", async () => {
    const blank = advisor({ ADVISOR_COST_CREDITS: "", ADVISOR_LATENCY_MS: " " });
    await expect(blank.thresholds(call)).resolves.toEqual({ cost_micro: 10_000, latency_ms: 4_000 });
  });

  it.each([
    { ADVISOR_COST_CREDITS: "cheap" },
    { ADVISOR_COST_CREDITS: "-0.01" },
    { ADVISOR_COST_CREDITS: "0.0000001" },
    { ADVISOR_LATENCY_MS: "1.5" },
    { ADVISOR_LATENCY_MS: "-1" },
    { ADVISOR_LATENCY_MS: "soon" },
  ])("fails as not_configured for %o", async (overrides) => {
    const error = await rejection(advisor(overrides).advise(slowCall(), call));
    expect(error.code).toBe("not_configured");
    expect(error.message).toMatch(Object.keys(overrides)[0] as string);
  });
});

describe("input validation", () => {
  it.each([
    ["null", null, ""],
    ["an array", [], ""],
    ["no served call", { alternatives: [] }, "served"],
    ["negative tokens", slowCall({ tokens_in: -1 }), "served.tokens_in"],
    ["fractional cost", slowCall({ cost_micro: 1.5 }), "served.cost_micro"],
    ["an unknown provider", slowCall({ provider: "anthropic" as never }), "served.provider"],
    ["an unknown tier", slowCall({ tier: "huge" as never }), "served.tier"],
    ["an infinite latency", slowCall({ latency_ms: Number.POSITIVE_INFINITY }), "served.latency_ms"],
    ["alternatives not a list", { served: slowCall().served, alternatives: {} }, "alternatives"],
    ["a fractional price", slowCall({}, [{ ...MINI, price_in_per_m: 0.5 }]), "alternatives.0.price_in_per_m"],
    ["an empty model id", slowCall({}, [MINI, { ...OSS_20B, model: "" }]), "alternatives.1.model"],
    ["a repeated alternative", slowCall({}, [MINI, OSS_20B, { ...MINI, latency_ms: 1 }]), ""],
  ])("refuses %s as invalid_input", async (_name, request, path) => {
    const error = await rejection(advisor().advise(request as AdviceRequest, call));
    expect(error.code).toBe("invalid_input");
    // The first failing field is the one named; a value may fail more than one check.
    expect((error.details as { issues: { path: string }[] }).issues[0]?.path).toBe(path);
  });

  it("drops keys it does not know instead of refusing them", async () => {
    const richer = { ...L8B_GROQ, context_window: 131_072 };
    const advice = await advisor().advise(slowCall({}, [richer]), call);
    expect(advice?.alternatives).toStrictEqual([
      {
        model: "llama-3.1-8b-instant",
        provider: "groq",
        estimated_credits: 0.00014,
        estimated_saving_credits: 0.001435,
        estimated_saving_percent: 91,
        estimated_latency_ms: 300,
      },
    ]);
  });
});

describe("internal surface", () => {
  it("answers 404 to HTTP: internal workers have no routes", async () => {
    const response = await exports.default.fetch("http://advisor.internal/");
    expect(response.status).toBe(404);
  });

  it("answers its health check", async () => {
    await expect(advisor().health()).resolves.toStrictEqual({ service: "advisor", ok: true });
  });

  it("serves advice over RPC through its named entrypoint", async () => {
    const advice = await exports.AdvisorEntrypoint.advise(slowCall(), call);
    expect(advice?.reason).toBe("latency");
    expect(advice?.alternatives[2]?.estimated_credits).toBe(0.000978);
  });
});
