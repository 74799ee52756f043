import { type AskRequest, type ChatMessage, type RoutingPolicy, ServiceError, type Tier } from "@cognomega/shared";
import type { AskPlan } from "./ask";
import { type CatalogModel, findModel } from "./catalog";
import type { SiSettings } from "./config";
import type { Provider } from "./providers";
import { type RouterState, rankCandidates } from "./router";
import { SKILLS, type Skill } from "./skills";
import { estimateChatTokens } from "./tokens";

/** What a plan is built from, whichever API the call came through. */
export interface PlanInput {
  messages: ChatMessage[];
  skill?: string;
  model?: string;
  policy?: RoutingPolicy;
  maxTokens?: number;
  temperature?: number;
  stream: boolean;
  /**
   * The ask's charge id. An ask under an idempotency key derives it from the key's record (its
   * nonce), so that running it again (after a failure freed the key) cannot charge it twice.
   */
  holdKey?: string;
}

export function planInputFromAsk(body: AskRequest): PlanInput {
  const input: PlanInput = {
    messages: body.messages ?? [{ role: "user", content: body.prompt as string }],
    stream: body.stream ?? false,
  };
  if (body.skill !== undefined) input.skill = body.skill;
  if (body.model !== undefined) input.model = body.model;
  if (body.policy !== undefined) input.policy = body.policy;
  if (body.max_tokens !== undefined) input.maxTokens = body.max_tokens;
  if (body.temperature !== undefined) input.temperature = body.temperature;
  return input;
}

/**
 * Turns a request into a plan: the skill's system prompt in front, the candidates the router may
 * use (configured providers, right capabilities, enough context window), ranked by policy, or the
 * one pinned model. Everything a client can get wrong is an `invalid_input` here, before any money
 * or provider is touched.
 */
export function buildPlan(
  input: PlanInput,
  models: CatalogModel[],
  providers: Record<string, Provider>,
  settings: SiSettings,
  state: RouterState,
): { plan: AskPlan; skill: Skill } {
  const skill = SKILLS[input.skill ?? "general"];
  if (!skill) {
    throw new ServiceError("invalid_input", `unknown skill ${input.skill}; skills: ${Object.keys(SKILLS).join(", ")}`, {
      issues: [{ path: "skill", message: "unknown skill" }],
    });
  }
  if (input.stream && skill.output) {
    throw new ServiceError("invalid_input", `skill ${skill.name} returns validated JSON and cannot stream`, {
      issues: [{ path: "stream", message: "not supported with this skill" }],
    });
  }
  const messages: ChatMessage[] = [{ role: "system", content: skill.system }, ...input.messages];
  const maxTokens = input.maxTokens ?? settings.defaultMaxTokens;
  const tokensInEstimate = estimateChatTokens(messages);
  const tier: Tier = skill.tier;
  const fits = (m: CatalogModel) => tokensInEstimate + maxTokens <= m.contextWindow;
  const usable = (m: CatalogModel) =>
    providers[m.provider]?.configured().ok === true &&
    m.capabilities.has("chat") &&
    (!input.stream || m.capabilities.has("stream")) &&
    (!skill.output || m.capabilities.has("json"));

  const base = { messages, maxTokens, tier, holdKey: input.holdKey ?? `ask:${crypto.randomUUID()}`, tokensInEstimate };
  const withTemperature = <T extends object>(plan: T) =>
    input.temperature === undefined ? plan : { ...plan, temperature: input.temperature };

  if (input.model !== undefined && !["auto", "cheapest", "fastest", "balanced"].includes(input.model)) {
    const model = findModel(models, input.model);
    if (!model) {
      throw new ServiceError("invalid_input", `unknown model ${input.model}; GET /v1/models lists them`, {
        issues: [{ path: "model", message: "unknown model" }],
      });
    }
    const configured = providers[model.provider]?.configured();
    if (!configured?.ok)
      throw new ServiceError("not_configured", `${model.id} is not available: ${configured?.reason ?? "no provider"}`);
    if (!fits(model)) {
      throw new ServiceError(
        "invalid_input",
        `the prompt and max_tokens exceed ${model.id}'s context window of ${model.contextWindow} tokens`,
        {
          issues: [{ path: "max_tokens", message: "over the context window" }],
        },
      );
    }
    return { plan: withTemperature({ ...base, policy: "pinned" as const, candidates: [model] }), skill };
  }

  const policy: RoutingPolicy =
    input.policy ??
    (input.model === "cheapest" || input.model === "fastest" || input.model === "balanced"
      ? input.model
      : settings.defaultPolicy);
  const available = models.filter(usable);
  const candidates = rankCandidates(
    available.filter(fits),
    { policy, tier, tokensIn: tokensInEstimate, maxTokens },
    state,
  );
  if (candidates.length === 0) {
    if (available.length > 0) {
      throw new ServiceError(
        "invalid_input",
        "the prompt and max_tokens exceed every available model's context window",
        {
          issues: [{ path: "max_tokens", message: "over the context window" }],
        },
      );
    }
    throw new ServiceError(
      "not_configured",
      "no AI provider is configured: set GROQ_API_KEY or OPENAI_API_KEY, or deploy with the AI binding",
    );
  }
  return { plan: withTemperature({ ...base, policy, candidates }), skill };
}
