import { FIELD_TYPES } from "@cognomega/shared";
import { embedJson, type ProjectModel } from "./model";

/** `src/schema.ts`: the entities of the graph as data, which the API validates and stores by. */
export function schemaSource(model: ProjectModel): string {
  const entities = model.entities.map((entity) => ({
    name: entity.name,
    table: entity.table,
    path: entity.path,
    fields: entity.fields,
  }));
  return [
    "// Rendered from the App Graph: the entities, their fields and their API paths. Names appear only",
    "// as data (string values), so a field called `class` or an entity called `Order` is just text.",
    "",
    `/** The field types of App Graph v1. An \`image\` holds an http(s) URL. */`,
    `export type FieldType = ${FIELD_TYPES.map((type) => JSON.stringify(type)).join(" | ")};`,
    "",
    "/** One field. `values` lists an enum's values; `ref` names the entity a reference points at. */",
    "export interface Field {",
    "  name: string;",
    "  type: FieldType;",
    "  required: boolean;",
    "  unique: boolean;",
    "  values?: string[];",
    "  ref?: string;",
    "}",
    "",
    "/** One entity: its table and its collection at /api/<path>. Every row also has id, created_at, updated_at. */",
    "export interface Entity {",
    "  name: string;",
    "  table: string;",
    "  path: string;",
    "  fields: Field[];",
    "}",
    "",
    `/** The app's name, from its App Graph. */`,
    `export const APP_NAME: string = ${embedJson(model.title)};`,
    "",
    "/** Every entity, in the App Graph's order. */",
    `export const ENTITIES: Entity[] = ${embedJson(entities, 2)};`,
    "",
  ].join("\n");
}
