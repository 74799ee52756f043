import type { ScaffoldJobResult } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { FAKE_APP_GRAPH } from "../../../test-support/fake-provider";
import { env } from "../../../test-support/mesh-env";
import { KINDS } from "../src/kinds";
import type { JobRow } from "../src/store";
import { admin, call, codeOf, guest, jobs } from "./helpers";

const generate = (prompt: string) => ({ kind: "scaffold.generate", input: { prompt } });

describe("scaffold.generate jobs", () => {
  it("designs a graph, renders it, and names the scaffold in its result", async () => {
    const user = await guest();
    const { job } = await jobs().create(generate("[app-graph] a book club"), user, null, call);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "succeeded", attempts: 1 });
    const done = await jobs().get(job.id, user, call);
    const result = done.result as ScaffoldJobResult;
    expect(result).toMatchObject({ name: "Book Club", download: `/api/scaffold/${result.scaffold_id}/download` });
    const record = await env.SCAFFOLD.get(user, result.scaffold_id, call);
    expect(record.graph).toEqual(FAKE_APP_GRAPH);
    expect(record.archive).toEqual(result.archive);
    const credits = await env.BILLING.balance(user, call);
    expect(credits.balance).toBe(5 - result.credits_used);
  });

  it("a second run of the same job (a retry after a lost result) is billed once and keeps one scaffold", async () => {
    const user = await guest();
    const { job } = await jobs().create(generate("[app-graph] a book club, twice"), user, null, call);
    await jobs().run(admin, call);
    const first = (await jobs().get(job.id, user, call)).result as ScaffoldJobResult;
    // The runner died after the work but before recording it: the kind runs again on the same row.
    const row = (await env.KV_BILLING.get<JobRow>(`job:${job.id}`, "json")) as JobRow;
    const kind = KINDS["scaffold.generate"]!;
    const again = (await kind.run({ env, job: row, call, cleanup: async () => ({}) })) as ScaffoldJobResult;
    expect(again).toEqual(first);
    const credits = await env.BILLING.balance(user, call);
    expect(credits.balance).toBe(5 - first.credits_used);
    const page = await env.SCAFFOLD.list(user, {}, call);
    expect(page.scaffolds.map((s) => s.id)).toEqual([first.scaffold_id]);
  });

  it("fails an owner at its scaffold quota before designing the graph, so nothing is billed", async () => {
    const user = await guest();
    // Three different graphs: rendering one graph again is a no-op that stores nothing.
    for (let i = 0; i < 3; i++) await env.SCAFFOLD.render({ ...FAKE_APP_GRAPH, name: `App ${i}` }, user, call);
    const { job } = await jobs().create(generate("[app-graph] one too many"), user, null, call);
    const { ran } = await jobs().run(admin, call);
    expect(ran.find((r) => r.id === job.id)).toMatchObject({ outcome: "failed", attempts: 1 });
    expect((await jobs().get(job.id, user, call)).last_error).toContain("quota_exceeded");
    expect((await env.BILLING.balance(user, call)).balance).toBe(5);
    expect((await env.SCAFFOLD.list(user, {}, call)).scaffolds).toHaveLength(3);
  });

  it("refuses a bad prompt when the job is created", async () => {
    const user = await guest();
    expect(await codeOf(jobs().create({ kind: "scaffold.generate", input: { prompt: "" } }, user, null, call))).toBe(
      "invalid_input",
    );
    expect(
      await codeOf(
        jobs().create({ kind: "scaffold.generate", input: { prompt: "x", skill: "general" } }, user, null, call),
      ),
    ).toBe("invalid_input");
  });
});
