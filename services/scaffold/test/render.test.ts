import {
  APP_GRAPH_LIMITS,
  type AppGraph,
  isServiceError,
  parseAppGraph,
  sha256Hex,
  tableSqlBytesBound,
} from "@cognomega/shared";
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import everyType from "../samples/every-type.json";
import references from "../samples/references.json";
import reservedWords from "../samples/reserved-words.json";
import { packProject } from "../src/manifest";
import { projectSlug, renderProject } from "../src/render";
import { zipProject } from "../src/zip";

const decoder = new TextDecoder();
const fileOf = (graph: AppGraph, path: string) => {
  const file = renderProject(graph).files.find((f) => f.path === path);
  if (!file) throw new Error(`no ${path}`);
  return decoder.decode(file.content);
};
const stripJsonc = (text: string) => text.replace(/^\s*\/\/.*$/gm, "");

describe("renderProject", () => {
  const graph = parseAppGraph(everyType);

  it("writes the project's files, sorted by path", () => {
    const paths = renderProject(graph).files.map((file) => file.path);
    expect(paths).toEqual([...paths].sort());
    expect(paths).toEqual([
      ".gitignore",
      "README.md",
      "migrations/0001_init.sql",
      "package.json",
      "public/app.js",
      "public/index.html",
      "public/new-observation.html",
      "public/observation.html",
      "public/observations.html",
      "public/overview.html",
      "public/sites.html",
      "public/style.css",
      "src/http.ts",
      "src/index.ts",
      "src/schema.ts",
      "src/store.ts",
      "src/validate.ts",
      "test/apply-migrations.ts",
      "test/env.d.ts",
      "test/observations.test.ts",
      "test/send.ts",
      "test/sites.test.ts",
      "test/suite.ts",
      "tsconfig.json",
      "vitest.config.ts",
      "wrangler.jsonc",
    ]);
  });

  it("pins the toolchain, with a dev command that migrates first and a test command", () => {
    const pkg = JSON.parse(fileOf(graph, "package.json"));
    expect(pkg).toMatchObject({ name: "field-notes", private: true, type: "module" });
    expect(Object.keys(pkg.devDependencies).sort()).toEqual([
      "@cloudflare/vitest-pool-workers",
      "@cloudflare/workers-types",
      "typescript",
      "vite",
      "vitest",
      "wrangler",
    ]);
    for (const version of Object.values(pkg.devDependencies)) expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.scripts).toMatchObject({
      test: "vitest run",
      dev: "wrangler d1 migrations apply DB --local && wrangler dev",
    });
  });

  it("configures a D1 binding DB, the pages as assets and a compatibility date", () => {
    const config = JSON.parse(stripJsonc(fileOf(graph, "wrangler.jsonc")));
    expect(config).toMatchObject({
      name: "field-notes",
      main: "src/index.ts",
      compatibility_date: "2026-04-21",
      assets: { directory: "public" },
      d1_databases: [{ binding: "DB", database_name: "field-notes-db", migrations_dir: "migrations" }],
    });
  });

  it("migrates a table per entity with typed, quoted, constrained columns", () => {
    const sql = fileOf(graph, "migrations/0001_init.sql");
    expect(sql).toContain('CREATE TABLE "Site" (\n  "id" TEXT PRIMARY KEY NOT NULL,\n  "title" TEXT NOT NULL UNIQUE,');
    expect(sql).toContain(`"region" TEXT CHECK ("region" IN ('north', 'south'))`);
    expect(sql).toContain('"count" INTEGER NOT NULL,');
    expect(sql).toContain('"weight" REAL,');
    expect(sql).toContain('"verified" INTEGER NOT NULL CHECK ("verified" IN (0, 1)),');
    expect(sql).toContain('"observerEmail" TEXT NOT NULL UNIQUE,');
    expect(sql).toContain('"site" TEXT NOT NULL,');
    expect(sql).toContain(
      '  "created_at" TEXT NOT NULL,\n  "updated_at" TEXT NOT NULL,\n  FOREIGN KEY ("site") REFERENCES "Site" ("id")\n);',
    );
    expect(sql).toContain('CREATE INDEX "Observation_site_idx" ON "Observation" ("site");');
  });

  it("quotes keywords and escapes quotes in enum values, so the SQL stays whole", () => {
    const sql = fileOf(parseAppGraph(reservedWords), "migrations/0001_init.sql");
    expect(sql).toContain('CREATE TABLE "Order" (');
    expect(sql).toContain('"select" TEXT NOT NULL UNIQUE,');
    expect(sql).toContain(
      `"class" TEXT NOT NULL CHECK ("class" IN ('it''s', 'say "hi"', '<script>', 'DROP TABLE x; --')),`,
    );
    expect(sql).toContain('FOREIGN KEY ("group") REFERENCES "Group" ("id")');
    // Every statement ends a line with `;`, and no `;` ends a line anywhere else.
    const ends = sql.split("\n").filter((line) => line.endsWith(";"));
    expect(ends).toHaveLength(4 + 3); // four tables, three reference indexes
  });

  it("embeds names only as data in the Worker's source", () => {
    const schema = fileOf(parseAppGraph(reservedWords), "src/schema.ts");
    expect(schema).toContain('"name": "class"');
    expect(schema).toContain('"path": "orders"');
    expect(schema).toContain('"\\u003cscript>"');
    const index = fileOf(parseAppGraph(reservedWords), "src/index.ts");
    expect(index).not.toMatch(/\bclass\b.*Order/);
  });

  it("writes a README with its two commands and a test file per entity", () => {
    const readme = fileOf(parseAppGraph(references), "README.md");
    expect(readme).toContain("npm install && npm test");
    expect(readme).toContain("npm run dev");
    expect(readme).toContain("| WateringEvent | `/api/watering-events` |");
    const test = fileOf(parseAppGraph(references), "test/watering-events.test.ts");
    expect(test).toContain("crudSuite(ENTITIES[3] as Entity, send);");
  });

  it("shows the app's own words in its README as text: no HTML, links or headings from a title", () => {
    const hostile = structuredClone(references) as { name: string; screens: { title: string }[] };
    hostile.name = "Shop\n## Injected heading";
    hostile.screens[0]!.title = '<img src=x onerror="alert(1)">](javascript:alert(1)) [x';
    const readme = fileOf(parseAppGraph(hostile), "README.md");
    expect(readme).not.toContain("<img");
    expect(readme).not.toMatch(/[^\\]\]\(javascript:/);
    expect(readme).not.toMatch(/^## Injected/m);
    expect(readme).toMatch(/^# Shop ## Injected heading$/m);
    expect(readme).toContain(
      "- [&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\](javascript:alert(1)) \\[x](/gardens)",
    );
  });

  it("fits every table the limits allow in D1: at most 100 columns (and bound parameters) and 100 KB a statement", () => {
    const L = APP_GRAPH_LIMITS;
    const long = (prefix: string, i: number) => `${prefix}${i}${"x".repeat(L.nameChars)}`.slice(0, L.nameChars);
    const widest = {
      version: 1,
      name: "Wide",
      entities: [
        {
          name: long("W", 0),
          fields: Array.from({ length: L.fieldsPerEntity }, (_, f) => ({
            name: long("f", f),
            type: f % 2 === 0 ? "boolean" : "reference",
            required: true,
            ...(f % 2 === 0 ? {} : { ref: "Other", unique: true }),
          })),
        },
        { name: "Other", fields: [{ name: "label", type: "string" }] },
      ],
      screens: [],
    };
    const tables = (graph: AppGraph) =>
      fileOf(graph, "migrations/0001_init.sql")
        .split(/;\n/)
        .filter((statement) => statement.includes("CREATE TABLE"));
    const bytes = (text: string) => new TextEncoder().encode(text).byteLength;
    const wide = parseAppGraph(widest);
    tables(wide).forEach((statement, e) => {
      expect(bytes(statement)).toBeLessThanOrEqual(tableSqlBytesBound(wide.entities[e]!));
      // Every row's columns are bound at once on insert: D1 allows 100 columns and 100 bound parameters.
      expect(statement.match(/^ {2}"[^"]+" (?:TEXT|INTEGER|REAL)/gm)?.length).toBeLessThanOrEqual(100);
    });

    // Enum CHECKs are the one part that grows with the graph's text: past D1's statement limit it is refused.
    const value = (i: number) => `'${"é".repeat(L.enumValueChars - 6)}${i}`.slice(0, L.enumValueChars);
    const enums = {
      version: 1,
      name: "Enums",
      entities: [
        {
          name: "Choice",
          fields: Array.from({ length: 12 }, (_, f) => ({
            name: long("c", f),
            type: "enum",
            values: Array.from({ length: L.enumValues }, (_, i) => value(i)),
          })),
        },
      ],
      screens: [],
    };
    const error = (() => {
      try {
        return parseAppGraph(enums);
      } catch (e) {
        return e;
      }
    })();
    expect(isServiceError(error) && error.code).toBe("invalid_input");
    expect((error as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path)).toEqual([
      "entities[0].fields",
    ]);
    enums.entities[0]!.fields = enums.entities[0]!.fields.slice(0, 2);
    const fits = parseAppGraph(enums);
    const [table] = tables(fits);
    expect(bytes(table!)).toBeGreaterThan(30_000);
    expect(bytes(table!)).toBeLessThanOrEqual(tableSqlBytesBound(fits.entities[0]!));
  });

  it("renders the largest graph the limits allow", () => {
    const big = parseAppGraph({
      version: 1,
      name: "Big",
      entities: Array.from({ length: 50 }, (_, e) => ({
        name: `Thing${e}`,
        fields: Array.from({ length: APP_GRAPH_LIMITS.fieldsPerEntity }, (_, f) => ({
          name: `field${f}`,
          type: f === 0 && e > 0 ? "reference" : "string",
          ...(f === 0 && e > 0 ? { ref: `Thing${e - 1}`, required: true } : {}),
        })),
      })),
      screens: Array.from({ length: 100 }, (_, s) => ({
        id: `screen-${s}`,
        title: `Screen ${s}`,
        entity: `Thing${s % 50}`,
      })),
    });
    const files = renderProject(big).files;
    expect(files.filter((file) => file.path.startsWith("test/") && file.path.endsWith(".test.ts"))).toHaveLength(50);
    expect(files.filter((file) => file.path.startsWith("public/") && file.path.endsWith(".html"))).toHaveLength(101);
  });

  it("names the project from the app's name", () => {
    expect(projectSlug("Plant Diary")).toBe("plant-diary");
    expect(projectSlug('  Order <Desk> & "Co"  ')).toBe("order-desk-co");
    expect(projectSlug("日本")).toBe("app");
    expect(projectSlug("x".repeat(64))).toHaveLength(63);
  });
});

describe("determinism", () => {
  it("renders the same graph to the same bytes and the same archive SHA-256", async () => {
    for (const sample of [everyType, references, reservedWords]) {
      const first = await packProject(parseAppGraph(sample));
      const second = await packProject(parseAppGraph(structuredClone(sample)));
      expect(second.archive).toEqual(first.archive);
      expect(second.manifest).toEqual(first.manifest);
      expect(first.manifest.archive.sha256).toBe(await sha256Hex(first.archive));
    }
  });

  it("hashes the graph canonically (key order does not matter) and a change changes both hashes", async () => {
    const graph = parseAppGraph(references);
    const reordered = Object.fromEntries(Object.entries(structuredClone(references)).reverse());
    expect((await packProject(parseAppGraph(reordered))).graphSha256).toBe((await packProject(graph)).graphSha256);
    const changed = structuredClone(references);
    changed.entities[0]!.fields[0]!.name = "fullName";
    const a = await packProject(graph);
    const b = await packProject(parseAppGraph(changed));
    expect(b.graphSha256).not.toBe(a.graphSha256);
    expect(b.manifest.archive.sha256).not.toBe(a.manifest.archive.sha256);
  });

  it("zips every entry under the project's folder with one fixed DOS timestamp", () => {
    const files = renderProject(parseAppGraph(everyType)).files;
    const archive = zipProject(files, "field-notes");
    const unzipped = unzipSync(archive);
    expect(Object.keys(unzipped)).toEqual(files.map((file) => `field-notes/${file.path}`));
    for (const file of files) expect(unzipped[`field-notes/${file.path}`]).toEqual(file.content);
    const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
    const stamps = new Set<string>();
    for (let offset = 0; offset + 30 <= archive.length; offset++) {
      if (view.getUint32(offset, true) !== 0x04034b50) continue;
      stamps.add(`${view.getUint16(offset + 12, true)}/${view.getUint16(offset + 10, true)}`);
    }
    // 2026-01-01 00:00:00 as DOS date/time: ((2026 - 1980) << 9) | (1 << 5) | 1, and 0.
    expect([...stamps]).toEqual([`${(46 << 9) | (1 << 5) | 1}/0`]);
  });
});
