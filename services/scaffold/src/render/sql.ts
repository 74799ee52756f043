import type { FieldType } from "@cognomega/shared";
import { type EntityModel, type FieldModel, type ProjectModel, sqlIdent, sqlString } from "./model";

/** SQLite column types: text-like values are TEXT (dates as ISO 8601), booleans 0/1. */
const COLUMN_TYPE: Record<FieldType, string> = {
  string: "TEXT",
  text: "TEXT",
  integer: "INTEGER",
  number: "REAL",
  boolean: "INTEGER",
  date: "TEXT",
  datetime: "TEXT",
  email: "TEXT",
  url: "TEXT",
  enum: "TEXT",
  reference: "TEXT",
  image: "TEXT",
};

function column(field: FieldModel): string {
  const name = sqlIdent(field.name);
  let sql = `  ${name} ${COLUMN_TYPE[field.type]}`;
  if (field.required) sql += " NOT NULL";
  if (field.unique) sql += " UNIQUE";
  if (field.type === "boolean") sql += ` CHECK (${name} IN (0, 1))`;
  if (field.type === "enum" && field.values)
    sql += ` CHECK (${name} IN (${field.values.map((value) => sqlString(value)).join(", ")}))`;
  return sql;
}

function foreignKey(field: FieldModel): string | undefined {
  if (field.type !== "reference" || field.ref === undefined) return undefined;
  return `  FOREIGN KEY (${sqlIdent(field.name)}) REFERENCES ${sqlIdent(field.ref)} ("id")`;
}

/** `CREATE TABLE` for one entity: the generated id and timestamps, then its fields in graph order. */
export function createTable(entity: EntityModel): string {
  const lines = [
    '  "id" TEXT PRIMARY KEY NOT NULL',
    ...entity.fields.map(column),
    '  "created_at" TEXT NOT NULL',
    '  "updated_at" TEXT NOT NULL',
    ...entity.fields.map(foreignKey).filter((line) => line !== undefined),
  ];
  return `CREATE TABLE ${sqlIdent(entity.table)} (\n${lines.join(",\n")}\n);\n`;
}

/** Indexes for reference columns, so the delete-time foreign key check and lookups by parent are not scans. */
function referenceIndexes(entity: EntityModel): string[] {
  return entity.fields
    .filter((field) => field.type === "reference")
    .map(
      (field) =>
        `CREATE INDEX ${sqlIdent(`${entity.table}_${field.name}_idx`)} ON ${sqlIdent(entity.table)} (${sqlIdent(field.name)});\n`,
    );
}

/**
 * `migrations/0001_init.sql`: a table per entity, in graph order (SQLite resolves a FOREIGN KEY when
 * rows are written, so a table may reference one created after it). Every statement ends with `;` on
 * its own line, which is how wrangler and readD1Migrations split the file.
 */
export function migrationSql(model: ProjectModel): string {
  const header = `-- ${model.title.replace(/[\r\n]+/g, " ")}: the schema rendered from its App Graph (v1).\n`;
  const tables = model.entities.map(createTable);
  const indexes = model.entities.flatMap(referenceIndexes);
  return [header, ...tables, ...(indexes.length > 0 ? [indexes.join("")] : [])].join("\n");
}
