// Catalog entries the SI and gateway tests install as an admin's catalog: two small models,
// Groq the cheaper, so routing tests know which comes first.

export const GROQ_SMALL = {
  id: "groq/gpt-oss-20b",
  provider: "groq",
  provider_model: "openai/gpt-oss-20b",
  price_in_usd_per_m: 0.075,
  price_out_usd_per_m: 0.3,
  context_window: 131072,
  tier: "small",
  capabilities: ["chat", "json", "stream"],
};

export const OPENAI_NANO = {
  id: "openai/gpt-4.1-nano",
  provider: "openai",
  provider_model: "gpt-4.1-nano",
  price_in_usd_per_m: 0.1,
  price_out_usd_per_m: 0.4,
  context_window: 1047576,
  tier: "small",
  capabilities: ["chat", "json", "stream"],
};
