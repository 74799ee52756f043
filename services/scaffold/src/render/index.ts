import type { AppGraph } from "@cognomega/shared";
import { clientScript, stylesheet } from "./client";
import { projectModel } from "./model";
import { indexPage, screenPage } from "./pages";
import { gitignore, packageJson, readme, tsconfigJson, wranglerJsonc } from "./project";
import { storeSource, validateSource } from "./runtime-data";
import { httpSource, indexSource } from "./runtime-http";
import { schemaSource } from "./source";
import { migrationSql } from "./sql";
import {
  applyMigrationsSource,
  entityTestSource,
  sendSource,
  suiteSource,
  testEnvSource,
  vitestConfigSource,
} from "./tests";

export { entityCollection } from "@cognomega/shared";
export { projectModel, projectSlug, TOOLCHAIN_VERSIONS } from "./model";

/** One file of a rendered project: a relative POSIX path and its bytes. */
export interface ProjectFile {
  path: string;
  content: Uint8Array;
}

/** A rendered project: its files sorted by path. */
export interface RenderedProject {
  files: ProjectFile[];
}

/** The file name of an entity's test: its collection path (unique, kebab-case). */
function testFile(path: string): string {
  return `test/${path}.test.ts`;
}

/**
 * Renders a graph that passed {@link parseAppGraph} into a Workers + D1 project. Deterministic: no
 * clock, no randomness, files sorted by path, so the same graph gives the same bytes.
 */
export function renderProject(graph: AppGraph): RenderedProject {
  const model = projectModel(graph);
  const text: [string, string][] = [
    [".gitignore", gitignore()],
    ["README.md", readme(model)],
    ["package.json", packageJson(model)],
    ["tsconfig.json", tsconfigJson()],
    ["vitest.config.ts", vitestConfigSource()],
    ["wrangler.jsonc", wranglerJsonc(model)],
    ["migrations/0001_init.sql", migrationSql(model)],
    ["src/index.ts", indexSource()],
    ["src/http.ts", httpSource()],
    ["src/schema.ts", schemaSource(model)],
    ["src/store.ts", storeSource()],
    ["src/validate.ts", validateSource()],
    ["public/index.html", indexPage(model)],
    ["public/app.js", clientScript()],
    ["public/style.css", stylesheet()],
    ...graph.screens.map((screen): [string, string] => [`public/${screen.id}.html`, screenPage(model, screen)]),
    ["test/apply-migrations.ts", applyMigrationsSource()],
    ["test/env.d.ts", testEnvSource()],
    ["test/send.ts", sendSource()],
    ["test/suite.ts", suiteSource()],
    ...model.entities.map((entity, index): [string, string] => [
      testFile(entity.path),
      entityTestSource(entity, index),
    ]),
  ];
  const encoder = new TextEncoder();
  const files = text
    .map(([path, content]) => ({ path, content: encoder.encode(content) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files };
}
