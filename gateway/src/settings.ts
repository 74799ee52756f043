import { declareSettings, FLAGS_CACHE_TTL_SECONDS, setting } from "@cognomega/shared";

/** The gateway's settings (docs/configuration.md is generated from this declaration). */
export const GATEWAY_SETTINGS = declareSettings("gateway", {
  ADMIN_KEY: setting.text({
    secret: true,
    meaning: "The operator key admin routes accept in X-Admin-Key; unset, admin routes answer 503.",
  }),
  ADMIN_KEY_PREVIOUS: setting.text({
    secret: true,
    meaning: "The key being rotated out, still accepted until it is removed.",
  }),
  ALLOWED_ORIGINS: setting.list({
    default: "https://app.cognomega.com,https://cognomega.com",
    meaning: "Browser origins CORS allows (scheme://host[:port]); entries that are not an origin are ignored.",
  }),
  TRUST_EMAIL_IDENTITY: setting.boolean({
    default: false,
    meaning: "Honour unauthenticated ?email= / X-User-Email from anyone (legacy/development only).",
  }),
  MAX_JSON_BYTES: setting.integer({
    default: 1_048_576,
    min: 1,
    max: 104_857_600,
    unit: "bytes",
    meaning: "The largest JSON request body (413 over it, refused before reading when declared).",
  }),
  JWKS_CACHE_TTL_SECONDS: setting.integer({
    default: 60,
    min: 0,
    max: 86_400,
    unit: "seconds",
    meaning: "How long an isolate verifies tokens from its copy of billing's keys before fetching them again.",
  }),
  REQUEST_LOG: setting.oneOf(["failures", "all"], {
    default: "failures",
    meaning:
      "failures: a log line for each answer of 400 or more; all: for every request (successes are in the platform's invocation logs).",
  }),
  FLAGS_CACHE_TTL_SECONDS,
});
