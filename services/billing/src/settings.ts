import { declareSettings, setting } from "@cognomega/shared";

/** The billing worker's settings (docs/configuration.md is generated from this declaration). */
export const BILLING_SETTINGS = declareSettings("billing", {
  ENVIRONMENT: setting.oneOf(["production", "development", "test"], {
    default: "production",
    meaning:
      "development or test lets a missing signing key be replaced by a generated one kept in KV; production refuses (503).",
  }),
  PRIVATE_KEY_PEM: setting.text({
    secret: true,
    meaning: "The guest-token signing key (PKCS#8 PEM); with KID, required in production.",
  }),
  KID: setting.text({ secret: true, meaning: "The signing key's id, published in the JWKS and every token header." }),
  JWT_ISSUER: setting.text({ default: "https://api.cognomega.com", meaning: "The `iss` of every guest token." }),
  JWT_AUDIENCE: setting.text({ default: "cognomega", meaning: "The `aud` of every guest token." }),
  GUEST_TOKEN_TTL_SECONDS: setting.integer({
    default: 3_600,
    min: 60,
    max: 7 * 24 * 3_600,
    unit: "seconds",
    meaning: "How long a guest token is valid.",
  }),
  GUEST_CREDITS: setting.integer({
    default: 5,
    min: 0,
    max: 1_000_000,
    unit: "credits",
    meaning: "Starter credits a new guest account gets, once.",
  }),
  GUEST_TOKENS_PER_MINUTE: setting.integer({
    default: 10,
    min: 1,
    max: 1_000_000,
    meaning: "Guest tokens one client address may get per minute.",
  }),
  GUEST_GRANTS_PER_MINUTE: setting.integer({
    default: 600,
    min: 1,
    max: 1_000_000,
    meaning: "Starter grants (new guest tokens) per minute across all addresses.",
  }),
  DEFAULT_RPM: setting.integer({
    default: 120,
    min: 1,
    max: 1_000_000,
    meaning: "Requests per minute a signed-in account may make until an admin sets its own limit.",
  }),
  DEFAULT_DAILY_CREDITS: setting.integer({
    default: 100,
    min: 1,
    max: 1_000_000_000,
    unit: "credits",
    meaning: "Credits an account may spend per UTC day until an admin sets its own limit.",
  }),
  USAGE_TTL_DAYS: setting.integer({
    default: 35,
    min: 1,
    max: 3_650,
    unit: "days",
    meaning: "How long a usage event is kept (analytics rolls hours up to ROLLUP_MAX_AGE_DAYS old).",
  }),
});
