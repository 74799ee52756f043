import { sha256Hex } from "@cognomega/shared";
import { unzipSync } from "fflate";
import { describe, expect, it, vi } from "vitest";
import references from "../../services/scaffold/samples/references.json";
import { FAKE_APP_GRAPH } from "../../test-support/fake-provider";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

interface Manifest {
  id: string;
  name: string;
  entities: { name: string; path: string }[];
  files: { path: string; bytes: number; sha256: string }[];
  archive: { bytes: number; sha256: string };
  download: string;
}

function render(token: string, graph: unknown): Promise<Response> {
  return as(token, "/api/scaffold/render", { method: "POST", body: JSON.stringify({ graph }) });
}

async function rendered(token: string, graph: unknown): Promise<Manifest> {
  const response = await render(token, graph);
  expect(response.status).toBe(201);
  return response.json();
}

function design(token: string, prompt: string, headers: Record<string, string> = {}): Promise<Response> {
  return as(token, "/api/scaffold/graph", { method: "POST", headers, body: JSON.stringify({ prompt }) });
}

describe("scaffold routes", () => {
  it("renders a graph (201), lists, shows, downloads a real zip and deletes it", async () => {
    const { token } = await guestToken();
    const manifest = await rendered(token, references);
    expect(manifest).toMatchObject({
      name: "Plant Diary",
      entities: [
        { name: "Gardener", path: "/api/gardeners" },
        { name: "Garden", path: "/api/gardens" },
        { name: "Plant", path: "/api/plants" },
        { name: "WateringEvent", path: "/api/watering-events" },
      ],
      download: `/api/scaffold/${manifest.id}/download`,
    });
    expect(manifest.files.map((file) => file.path)).toContain("migrations/0001_init.sql");

    const listed = (await (await as(token, "/api/scaffold")).json()) as { scaffolds: unknown[]; cursor?: string };
    expect(listed).toEqual({
      scaffolds: [
        {
          id: manifest.id,
          name: "Plant Diary",
          archive: manifest.archive,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          download: manifest.download,
        },
      ],
    });

    const shown = (await (await as(token, `/api/scaffold/${manifest.id}`)).json()) as Manifest & { graph: unknown };
    expect(shown).toMatchObject({ ...manifest, graph: references });

    const download = await as(token, manifest.download);
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("application/zip");
    expect(download.headers.get("Content-Disposition")).toBe('attachment; filename="plant-diary.zip"');
    expect(download.headers.get("Content-Length")).toBe(String(manifest.archive.bytes));
    const bytes = new Uint8Array(await download.arrayBuffer());
    expect(await sha256Hex(bytes)).toBe(manifest.archive.sha256);
    const entries = unzipSync(bytes);
    expect(Object.keys(entries).sort()).toEqual(manifest.files.map((file) => `plant-diary/${file.path}`).sort());
    for (const file of manifest.files) expect(await sha256Hex(entries[`plant-diary/${file.path}`]!)).toBe(file.sha256);
    const pkg = JSON.parse(new TextDecoder().decode(entries["plant-diary/package.json"])) as { scripts: object };
    expect(pkg.scripts).toHaveProperty("test");

    const removed = await as(token, `/api/scaffold/${manifest.id}`, { method: "DELETE" });
    expect(await removed.json()).toEqual({ deleted: manifest.id });
    await expectProblem(await as(token, `/api/scaffold/${manifest.id}`), 404, "not_found");
    await expectProblem(await as(token, manifest.download), 404, "not_found");
    await expectProblem(await as(token, `/api/scaffold/${manifest.id}`, { method: "DELETE" }), 404, "not_found");
    expect(await (await as(token, "/api/scaffold")).json()).toEqual({ scaffolds: [] });
  });

  it("keeps owners apart: another guest's id is 404 on every route", async () => {
    const owner = await guestToken();
    const stranger = await guestToken();
    const manifest = await rendered(owner.token, references);
    await expectProblem(await as(stranger.token, `/api/scaffold/${manifest.id}`), 404, "not_found");
    await expectProblem(await as(stranger.token, manifest.download), 404, "not_found");
    await expectProblem(
      await as(stranger.token, `/api/scaffold/${manifest.id}`, { method: "DELETE" }),
      404,
      "not_found",
    );
    expect(await (await as(stranger.token, "/api/scaffold")).json()).toEqual({ scaffolds: [] });
    expect((await as(owner.token, manifest.download)).status).toBe(200);
    await expectProblem(await gateway(`/api/scaffold/${manifest.id}`), 401, "unauthenticated");
  });

  it("renders the same graph to the same bytes, so a re-render is a no-op, and pages oldest first", async () => {
    const { token } = await guestToken();
    const first = await rendered(token, references);
    // The same graph, its keys in another order: the scaffold already stored, not a second copy.
    const again = await rendered(token, structuredClone(references));
    expect(again).toEqual(first);
    const third = await rendered(token, FAKE_APP_GRAPH);
    const bytes = sha256Hex(new Uint8Array(await (await as(token, first.download)).arrayBuffer()));
    expect(await bytes).toBe(first.archive.sha256);
    expect(third.archive.sha256).not.toBe(first.archive.sha256);

    const page1 = (await (await as(token, "/api/scaffold?limit=1")).json()) as {
      scaffolds: { id: string }[];
      cursor?: string;
    };
    expect(page1.scaffolds.map((s) => s.id)).toEqual([first.id]);
    expect(page1.cursor).toBe(first.id);
    const page2 = (await (await as(token, `/api/scaffold?limit=2&cursor=${page1.cursor}`)).json()) as {
      scaffolds: { id: string }[];
      cursor?: string;
    };
    expect(page2).toEqual({ scaffolds: [expect.objectContaining({ id: third.id, name: "Book Club" })] });

    // Once deleted, the same graph renders anew (same bytes, a new id).
    expect((await as(token, `/api/scaffold/${first.id}`, { method: "DELETE" })).status).toBe(200);
    const fresh = await rendered(token, references);
    expect(fresh.id).not.toBe(first.id);
    expect(fresh.archive).toEqual(first.archive);
  });

  it("refuses bad graphs with 400 and every issue's path, and bad ids and queries with 400", async () => {
    const { token } = await guestToken();
    const broken = structuredClone(references) as { entities: { name: string; fields: { ref?: string }[] }[] };
    broken.entities[2]!.fields[1]!.ref = "Pot";
    const body = await expectProblem(await render(token, broken), 400, "invalid_input");
    expect(body.issues).toEqual([{ path: "entities[2].fields[1].ref", message: 'unknown entity "Pot"' }]);

    const misnamed = structuredClone(references) as { entities: { name: string }[] };
    misnamed.entities[0]!.name = "gardener";
    const shape = await expectProblem(await render(token, misnamed), 400, "invalid_input");
    expect((shape.issues as { path: string }[]).map((issue) => issue.path)).toContain("entities[0].name");

    await expectProblem(
      await as(token, "/api/scaffold/render", { method: "POST", body: JSON.stringify({ graph: references, x: 1 }) }),
      400,
      "invalid_input",
    );
    await expectProblem(await render(token, { version: 2 }), 400, "invalid_input");
    await expectProblem(await as(token, "/api/scaffold/not-an-id"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/scaffold/..%2F..%2Fx/download"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/scaffold/0190b3a0-0000-7000-8000-000000000000"), 404, "not_found");
    await expectProblem(await as(token, "/api/scaffold?limit=0"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/scaffold?limit=abc"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/scaffold?cursor=scaffold%2Fx"), 400, "invalid_input");
  });
});

describe("POST /api/scaffold/graph", () => {
  it("designs a graph through SI's app-graph skill, billed as an ask, which then renders", async () => {
    const { token } = await guestToken();
    const response = await design(token, "[app-graph] a book club");
    expect(response.status).toBe(200);
    const designed = (await response.json()) as {
      graph: unknown;
      usage: { tokens_in: number; tokens_out: number };
      credits_used: number;
      model: string;
      provider: string;
      request_id: string;
    };
    expect(designed.graph).toEqual(FAKE_APP_GRAPH);
    expect(designed.usage).toMatchObject({ tokens_in: 12, tokens_out: 5 });
    expect(designed.credits_used).toBeGreaterThan(0);
    expect(designed.request_id).toBe(response.headers.get("X-Request-Id"));
    expect(response.headers.get("X-Credits-Used")).toBe(String(designed.credits_used));
    expect(response.headers.get("X-Model")).toBe(designed.model);
    expect(response.headers.get("X-Tokens-In")).toBe("12");
    // The charge reaches the ledger in SI's next settlement batch, just after the answer.
    await vi.waitFor(
      async () => {
        const credits = (await (await as(token, "/api/credits")).json()) as { balance: number };
        expect(credits.balance).toBe(5 - designed.credits_used);
      },
      { timeout: 5_000, interval: 50 },
    );

    const manifest = await rendered(token, designed.graph);
    expect(manifest.entities).toEqual([
      { name: "Member", path: "/api/members" },
      { name: "Book", path: "/api/books" },
    ]);
  });

  it("repairs an answer that fails the integrity pass once, billing both calls", async () => {
    const { token } = await guestToken();
    const response = await design(token, "[app-graph-repair] a book club");
    expect(response.status).toBe(200);
    const designed = (await response.json()) as { graph: unknown; usage: { tokens_in: number } };
    expect(designed.graph).toEqual(FAKE_APP_GRAPH);
    // Two calls of 12 prompt tokens each: the first answer and its repair.
    expect(designed.usage.tokens_in).toBe(24);
  });

  it("answers 502 with the integrity problem when the repair fails too", async () => {
    const { token } = await guestToken();
    const body = await expectProblem(await design(token, "[app-graph-broken] a book club"), 502, "upstream_error");
    expect(body.schema_error).toContain("entities[1].fields[1].ref");
    expect(body.credits_used as number).toBeGreaterThan(0);
  });

  it("replays a repeated Idempotency-Key without billing again, and refuses bad input", async () => {
    const { token } = await guestToken();
    const headers = { "Idempotency-Key": "graph-1" };
    const first = (await (await design(token, "[app-graph] again", headers)).json()) as { credits_used: number };
    const again = (await (await design(token, "[app-graph] again", headers)).json()) as { credits_used: number };
    expect(again).toEqual(first);
    const credits = (await (await as(token, "/api/credits")).json()) as { balance: number };
    expect(credits.balance).toBe(5 - first.credits_used);
    await expectProblem(await design(token, ""), 400, "invalid_input");
    await expectProblem(
      await as(token, "/api/scaffold/graph", {
        method: "POST",
        body: JSON.stringify({ prompt: "x", skill: "general" }),
      }),
      400,
      "invalid_input",
    );
  });
});

describe("POST /api/scaffold (a scaffold.generate job)", () => {
  it("queues graph-then-render; the job's result names a scaffold that downloads", async () => {
    const { token } = await guestToken();
    const queued = await as(token, "/api/scaffold", {
      method: "POST",
      body: JSON.stringify({ prompt: "[app-graph] a book club, queued" }),
    });
    expect(queued.status).toBe(202);
    const { job } = (await queued.json()) as { queued: true; job: { id: string; kind: string; status: string } };
    expect(job).toMatchObject({ kind: "scaffold.generate", status: "pending" });

    const run = await gateway("/api/jobs/run", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } });
    const ran = ((await run.json()) as { ran: { id: string; outcome: string }[] }).ran;
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");

    const done = (await (await as(token, `/api/jobs/${job.id}`)).json()) as {
      status: string;
      result: { scaffold_id: string; name: string; download: string; archive: { sha256: string } };
    };
    expect(done.status).toBe("succeeded");
    expect(done.result).toMatchObject({
      name: "Book Club",
      download: `/api/scaffold/${done.result.scaffold_id}/download`,
    });
    const shown = (await (await as(token, `/api/scaffold/${done.result.scaffold_id}`)).json()) as { graph: unknown };
    expect(shown.graph).toEqual(FAKE_APP_GRAPH);
    const zip = new Uint8Array(await (await as(token, done.result.download)).arrayBuffer());
    expect(await sha256Hex(zip)).toBe(done.result.archive.sha256);
    expect(Object.keys(unzipSync(zip))).toContain("book-club/migrations/0001_init.sql");
    const listed = (await (await as(token, "/api/scaffold")).json()) as { scaffolds: { id: string }[] };
    expect(listed.scaffolds.map((s) => s.id)).toEqual([done.result.scaffold_id]);
  });

  it("refuses a bad prompt when the job is created, not when it runs", async () => {
    const { token } = await guestToken();
    await expectProblem(
      await as(token, "/api/scaffold", { method: "POST", body: JSON.stringify({ prompt: 7 }) }),
      400,
      "invalid_input",
    );
    await expectProblem(await as(token, "/api/scaffold", { method: "POST", body: "{" }), 400, "malformed_json");
  });
});
