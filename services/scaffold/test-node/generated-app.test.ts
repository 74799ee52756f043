// The heart of the scaffold's tests: for each sample graph, the rendered project is bundled by
// wrangler, run in workerd with its migration applied, and driven over HTTP: the project's own CRUD
// suite (test/suite.ts, as rendered) for every entity, plus the checks below written here.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { Script } from "node:vm";
import { type AppGraph, entityCollection, parseAppGraph } from "@cognomega/shared";
import { afterAll, describe, expect, it } from "vitest";
import everyType from "../samples/every-type.json";
import references from "../samples/references.json";
import reservedWords from "../samples/reserved-words.json";
import { type RunningApp, startApp } from "./harness";

const SAMPLES: Record<string, unknown> = {
  "every-type": everyType,
  references,
  "reserved-words": reservedWords,
};

type Suite = (entity: unknown, send: RunningApp["send"]) => void;

async function rendered(app: RunningApp): Promise<{ crudSuite: Suite; ENTITIES: { name: string }[] }> {
  const suite = await import(pathToFileURL(join(app.dir, "test", "suite.ts")).href);
  const schema = await import(pathToFileURL(join(app.dir, "src", "schema.ts")).href);
  return { crudSuite: suite.crudSuite, ENTITIES: schema.ENTITIES };
}

function pagesSuite(graph: AppGraph, app: RunningApp): void {
  it("serves the index page, linking every screen and every collection", async () => {
    const index = await app.page("/");
    expect(index.status).toBe(200);
    expect(index.type).toContain("text/html");
    for (const screen of graph.screens) expect(index.text).toContain(`href="/${screen.id}"`);
    for (const entity of graph.entities) expect(index.text).toContain(`href="/api/${entityCollection(entity.name)}"`);
  });

  it("serves a page per screen that uses its entity's API path and links its navigation", async () => {
    for (const screen of graph.screens) {
      const page = await app.page(`/${screen.id}`);
      expect(page.status, screen.id).toBe(200);
      expect(page.type).toContain("text/html");
      if (screen.entity !== undefined) {
        expect(page.text).toContain(`data-api="/api/${entityCollection(screen.entity)}"`);
        expect(page.text).toContain('<script type="module" src="/app.js"></script>');
      }
      for (const link of (graph.navigation ?? []).filter((l) => l.from === screen.id))
        expect(page.text).toContain(`href="/${link.to}"`);
    }
    const script = await app.page("/app.js");
    expect(script.status).toBe(200);
    expect(script.type).toContain("javascript");
    expect(script.text).toContain("fetch(url, init)");
    // It parses as a classic script too (no imports), so any browser that loads the page can run it.
    expect(() => new Script(script.text)).not.toThrow();
  });

  it("indexes its API at /api and answers problem+json for unknown routes and methods", async () => {
    const index = await app.send("GET", "/api");
    expect(index.body.entities).toEqual(
      graph.entities.map((entity) => ({ name: entity.name, path: `/api/${entityCollection(entity.name)}` })),
    );
    const first = `/api/${entityCollection((graph.entities[0] as { name: string }).name)}`;
    expect(await app.send("GET", "/api/nothing-here")).toMatchObject({ status: 404, type: "application/problem+json" });
    const put = await app.send("PUT", first, {});
    expect(put).toMatchObject({ status: 405, type: "application/problem+json" });
    expect(put.headers.get("allow")).toBe("GET, POST");
    const malformed = await app.sendRaw("POST", first, "{not json");
    expect(malformed).toMatchObject({ status: 400, body: { title: "Malformed JSON" } });
  });
}

const apps: RunningApp[] = [];
afterAll(async () => {
  await Promise.all(apps.map((app) => app.dispose()));
});

for (const [name, json] of Object.entries(SAMPLES)) {
  const graph = parseAppGraph(json);
  const app = await startApp(name, graph);
  apps.push(app);
  const { crudSuite, ENTITIES } = await rendered(app);

  describe(`${name}: the generated app, bundled and run in workerd`, () => {
    it("renders every entity of the graph into its schema", () => {
      expect(ENTITIES.map((entity) => entity.name)).toEqual(graph.entities.map((entity) => entity.name));
    });
    for (const entity of ENTITIES) crudSuite(entity, app.send);
    pagesSuite(graph, app);
  });

  if (name === "every-type") describe("every-type: values of every field type", () => everyTypeChecks(app));
  if (name === "references") describe("references: rows that refer to rows", () => referenceChecks(app));
  if (name === "reserved-words") describe("reserved-words: names that are keywords", () => reservedChecks(app));
}

function everyTypeChecks(app: RunningApp): void {
  const site = async () => (await app.send("POST", "/api/sites", { title: `Site ${Math.random()}` })).body.id;
  const valid = async (n: number) => ({
    title: "Heron",
    count: 3,
    verified: true,
    seenOn: "2024-02-29",
    observerEmail: `watcher${n}@example.org`,
    status: "draft",
    site: await site(),
  });

  it("stores each type as given: booleans as booleans, date-times in UTC, absent optionals as null", async () => {
    const created = await app.send("POST", "/api/observations", {
      ...(await valid(1)),
      weight: 2,
      recordedAt: "2024-01-01T10:00:00+02:00",
      photo: "https://example.com/heron.png",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      count: 3,
      weight: 2,
      verified: true,
      seenOn: "2024-02-29",
      recordedAt: "2024-01-01T08:00:00.000Z",
      notes: null,
      source: null,
      photo: "https://example.com/heron.png",
    });
    expect(Object.keys(created.body)[0]).toBe("id");
    expect(Object.keys(created.body).slice(-2)).toEqual(["created_at", "updated_at"]);
    const cleared = await app.send("PATCH", `/api/observations/${created.body.id}`, { weight: null, verified: false });
    expect(cleared.body).toMatchObject({ weight: null, verified: false, count: 3 });
  });

  it("accepts every real calendar date, years 0-99 included, and refuses impossible ones", async () => {
    for (const [i, seenOn] of ["0050-01-01", "0000-02-29", "2024-02-29", "9999-12-31"].entries()) {
      const answer = await app.send("POST", "/api/observations", { ...(await valid(100 + i)), seenOn });
      expect({ seenOn, status: answer.status }).toEqual({ seenOn, status: 201 });
    }
    for (const [i, seenOn] of ["0050-02-29", "2023-02-29", "2024-13-01", "2024-04-31"].entries()) {
      const answer = await app.send("POST", "/api/observations", { ...(await valid(200 + i)), seenOn });
      expect({ seenOn, status: answer.status }).toEqual({ seenOn, status: 400 });
    }
  });

  it("names each invalid field in one 400", async () => {
    const answer = await app.send("POST", "/api/observations", {
      ...(await valid(2)),
      count: "3",
      verified: 1,
      seenOn: "2023-02-29",
      observerEmail: "watcher",
      source: "mailto:a@b.c",
      status: "DRAFT",
    });
    expect(answer.status).toBe(400);
    expect(answer.body.issues.map((issue: { path: string }) => issue.path)).toEqual([
      "count",
      "verified",
      "seenOn",
      "observerEmail",
      "source",
      "status",
    ]);
  });

  it("is linear on a huge hostile email", async () => {
    const answer = await app.send("POST", "/api/observations", {
      ...(await valid(3)),
      observerEmail: `${"a".repeat(64)}@${"a-".repeat(100_000)}`,
    });
    expect(answer.status).toBe(400);
  });
}

function referenceChecks(app: RunningApp): void {
  it("passes its own `npm test` (vitest-pool-workers, its D1 migration applied by its setup file)", () => {
    // Offline: the project's toolchain resolves from this repository's node_modules, at the same
    // versions its package.json pins (versions.test.ts). CI also runs it after a real npm install.
    const vitest = fileURLToPath(new URL("../../../node_modules/.bin/vitest", import.meta.url));
    const result = spawnSync(vitest, ["run"], { cwd: app.dir, encoding: "utf8", env: { ...process.env, CI: "1" } });
    const output = stripVTControlCharacters(`${result.stdout}${result.stderr}`);
    expect(output).toMatch(/Test Files {2}\d+ passed/);
    expect(output).not.toContain("failed");
    expect(result.status).toBe(0);
  }, 180_000);

  it("refuses to delete a row others still refer to (409), then deletes it once they are gone", async () => {
    const gardener = (await app.send("POST", "/api/gardeners", { name: "Ada", email: "ada@example.com" })).body;
    const garden = (await app.send("POST", "/api/gardens", { name: "Back", owner: gardener.id })).body;
    const plant = await app.send("POST", "/api/plants", { name: "Fern", garden: garden.id });
    expect(plant.status).toBe(201);
    expect(await app.send("DELETE", `/api/gardeners/${gardener.id}`)).toMatchObject({ status: 409 });
    expect(await app.send("DELETE", `/api/gardens/${garden.id}`)).toMatchObject({ status: 409 });
    expect((await app.send("DELETE", `/api/plants/${plant.body.id}`)).status).toBe(204);
    expect((await app.send("DELETE", `/api/gardens/${garden.id}`)).status).toBe(204);
    expect((await app.send("DELETE", `/api/gardeners/${gardener.id}`)).status).toBe(204);
  });

  it("refuses a reference to a row of the wrong entity", async () => {
    const gardener = (await app.send("POST", "/api/gardeners", { name: "Bo", email: "bo@example.com" })).body;
    const answer = await app.send("POST", "/api/plants", { name: "Fern", garden: gardener.id });
    expect(answer).toMatchObject({ status: 400, body: { issues: [{ path: "garden" }] } });
  });

  it("keeps a one-to-one reference unique (409 names the field)", async () => {
    const gardener = (await app.send("POST", "/api/gardeners", { name: "Cy", email: "cy@example.com" })).body;
    expect((await app.send("POST", "/api/gardens", { name: "One", owner: gardener.id })).status).toBe(201);
    const second = await app.send("POST", "/api/gardens", { name: "Two", owner: gardener.id });
    expect(second).toMatchObject({ status: 409, body: { issues: [{ path: "owner", message: "is already taken" }] } });
  });
}

function reservedChecks(app: RunningApp): void {
  it("typechecks as its own `npm run typecheck` would (tsc over src, test and its vitest config)", () => {
    const tsc = fileURLToPath(new URL("../../../node_modules/.bin/tsc", import.meta.url));
    const result = spawnSync(tsc, ["--noEmit", "-p", app.dir], { encoding: "utf8" });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  });

  it("stores and reads fields named select, from, where, default, class, null and function", async () => {
    const group = (await app.send("POST", "/api/groups", { key: "g", enum: "a" })).body;
    const order = await app.send("POST", "/api/orders", {
      select: "one",
      from: "2024-05-01",
      where: "here",
      default: false,
      class: "DROP TABLE x; --",
      null: 0,
      function: -1.25,
      group: group.id,
    });
    expect(order.status).toBe(201);
    expect(order.body).toMatchObject({ select: "one", class: "DROP TABLE x; --", null: 0, default: false });
    const quoted = await app.send("PATCH", `/api/orders/${order.body.id}`, { class: `say "hi"` });
    expect(quoted.body.class).toBe(`say "hi"`);
    expect(await app.send("PATCH", `/api/orders/${order.body.id}`, { class: "it''s" })).toMatchObject({ status: 400 });
  });

  it("escapes hostile titles, labels and components in its pages", async () => {
    const index = await app.page("/");
    expect(index.text).toContain("Order &lt;Desk&gt; &amp; &quot;Co&quot;");
    expect(index.text).not.toContain("</script><b>");
    const orders = await app.page("/orders");
    expect(orders.text).not.toContain("<script>alert(1)</script>");
    expect(orders.text).toContain("&lt;b&gt;Groups&lt;/b&gt;");
    const groups = await app.page("/groups");
    expect(groups.text).not.toContain("<img");
    // The enum value "<script>" travels inside the embedded JSON without closing its <script> element.
    const order = await app.page("/order");
    expect(order.text).toContain("\\u003cscript>");
  });
}
