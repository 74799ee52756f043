import { declareSettings, MAX_CREDITS, setting } from "@cognomega/shared";

/** The advisor's settings (docs/configuration.md is generated from this declaration). */
export const ADVISOR_SETTINGS = declareSettings("advisor", {
  ADVISOR_COST_CREDITS: setting.decimal({
    default: "0.01",
    places: 6,
    max: MAX_CREDITS,
    unit: "credits",
    meaning: "A served call costing more than this gets cost advice (cheaper models); read exactly into micro-credits.",
  }),
  ADVISOR_LATENCY_MS: setting.integer({
    default: 4_000,
    min: 0,
    // One hour: anything larger is surely a typo.
    max: 3_600_000,
    unit: "ms",
    meaning: "A served call slower than this (and under the cost threshold) gets latency advice (faster models).",
  }),
});
