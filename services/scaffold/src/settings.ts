import { declareSettings, FLAGS_CACHE_TTL_SECONDS, setting } from "@cognomega/shared";

/** The scaffold worker's settings (docs/configuration.md is generated from this declaration). */
export const SCAFFOLD_SETTINGS = declareSettings("scaffold", {
  SCAFFOLD_QUOTA_COUNT: setting.integer({
    default: 200,
    min: 1,
    // One R2 list page (1000 keys) counts them all.
    max: 1_000,
    meaning:
      "Most scaffolds one account keeps (403 quota_exceeded past it): rendering is free, so this bounds storage.",
  }),
  FLAGS_CACHE_TTL_SECONDS,
});
