import { type AskDeps, type CallOutcome, complete } from "./ask";
import type { CatalogModel } from "./catalog";
import { buildPlan, type PlanInput } from "./plan";
import { checkOutput, type Skill } from "./skills";
import { estimateChatTokens } from "./tokens";

/** A non-streaming call with the skill's output check and, if needed, one repair attempt. */
export async function completeWithSkill(
  deps: AskDeps,
  input: PlanInput,
  models: CatalogModel[],
): Promise<{ outcome: CallOutcome; data?: unknown; schemaError?: string }> {
  const { plan, skill } = buildPlan(input, models, deps.providers, deps.settings, deps.state);
  const first = await complete(deps, plan);
  const checked = checkOutput(skill, first.output);
  if (checked.ok) return checked.data === undefined ? { outcome: first } : { outcome: first, data: checked.data };
  return repair(deps, plan, skill, first, checked.problem);
}

/** One more call to the model that answered, given its reply and what is wrong with it, to correct it. */
async function repair(
  deps: AskDeps,
  plan: ReturnType<typeof buildPlan>["plan"],
  skill: Skill,
  first: CallOutcome,
  problem: string,
): Promise<{ outcome: CallOutcome; data?: unknown; schemaError?: string }> {
  const messages = [
    ...plan.messages,
    { role: "assistant" as const, content: first.output },
    {
      role: "user" as const,
      content: `That reply is not valid for the required JSON format (${problem}). Reply again with only the corrected JSON.`,
    },
  ];
  // The repair prompt carries the first answer: estimate it again, and check it still fits.
  const tokensInEstimate = estimateChatTokens(messages);
  if (tokensInEstimate + plan.maxTokens > first.model.contextWindow) {
    return { outcome: first, schemaError: `${problem} (no room left in the context window to repair it)` };
  }
  let second: CallOutcome;
  try {
    second = await complete(deps, {
      ...plan,
      messages,
      tokensInEstimate,
      policy: "pinned",
      candidates: [first.model],
      holdKey: `${plan.holdKey}:repair`,
    });
  } catch (error) {
    // The first answer was delivered and paid for: keep it, and say why it is not validated.
    const reason = error instanceof Error ? error.message : String(error);
    return { outcome: first, schemaError: `${problem}; the repair attempt failed: ${reason}` };
  }
  const outcome: CallOutcome = {
    ...second,
    usage: {
      tokens_in: first.usage.tokens_in + second.usage.tokens_in,
      tokens_out: first.usage.tokens_out + second.usage.tokens_out,
      estimated: first.usage.estimated || second.usage.estimated,
    },
    creditsMicro: first.creditsMicro + second.creditsMicro,
    route: {
      ...first.route,
      reason: `${first.route.reason}; repaired once (${problem})`,
      attempts: [...first.route.attempts, ...second.route.attempts],
    },
    latencyMs: first.latencyMs + second.latencyMs,
  };
  const checked = checkOutput(skill, second.output);
  if (checked.ok) return { outcome, data: checked.data };
  return { outcome, schemaError: checked.problem };
}
