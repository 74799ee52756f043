import { declareSettings, FLAGS_CACHE_TTL_SECONDS } from "@cognomega/shared";

/** The flags worker's settings (docs/configuration.md is generated from this declaration). */
export const FLAGS_SETTINGS = declareSettings("flags", { FLAGS_CACHE_TTL_SECONDS });
