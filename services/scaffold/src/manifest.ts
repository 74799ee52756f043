import { type AppGraph, sha256Hex } from "@cognomega/shared";
import { projectModel, type RenderedProject, renderProject } from "./render";
import { zipProject } from "./zip";

/** What a render produced: the project's entities, its files and its archive, each with a SHA-256. */
export interface ScaffoldManifest {
  id: string;
  name: string;
  entities: { name: string; path: string }[];
  files: { path: string; bytes: number; sha256: string }[];
  archive: { bytes: number; sha256: string };
}

/** A rendered, zipped project with everything but its id. */
export interface PackedProject {
  slug: string;
  graphSha256: string;
  manifest: Omit<ScaffoldManifest, "id">;
  archive: Uint8Array;
}

/** The canonical JSON of a graph (keys sorted), so equal graphs hash equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Renders, zips and hashes a checked graph. Deterministic: the same graph gives the same bytes. */
export async function packProject(graph: AppGraph): Promise<PackedProject> {
  const model = projectModel(graph);
  const project: RenderedProject = renderProject(graph);
  const archive = zipProject(project.files, model.slug);
  const files = await Promise.all(
    project.files.map(async (file) => ({
      path: file.path,
      bytes: file.content.byteLength,
      sha256: await sha256Hex(file.content),
    })),
  );
  return {
    slug: model.slug,
    graphSha256: await sha256Hex(canonicalJson(graph)),
    manifest: {
      name: graph.name,
      entities: model.entities.map((entity) => ({ name: entity.name, path: `/api/${entity.path}` })),
      files,
      archive: { bytes: archive.byteLength, sha256: await sha256Hex(archive) },
    },
    archive,
  };
}
