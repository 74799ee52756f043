// The generated project's validation and storage, as source text (see runtime-http.ts).

/** `src/validate.ts`: request bodies and query parameters checked against the entity table. */
export function validateSource(): string {
  return String.raw`// Request bodies and query parameters, checked against the entities in schema.ts. Every pattern
// here is linear: each repeated part starts with a character the part before it cannot contain.
import { type Issue, invalid } from "./http";
import type { Entity, Field } from "./schema";

/** Ids are UUIDs (version 7: time-ordered, so a page of rows is roughly oldest first). */
export const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const MAX_STRING = 255;
const MAX_TEXT = 65_535;
const MAX_URL = 2048;
const EMAIL = /^[^\s@]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;
const GENERATED = new Set(["id", "created_at", "updated_at"]);

function isDate(value: string): boolean {
  const match = DATE.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function isWebUrl(value: string): boolean {
  if (value.length > MAX_URL || /\s/.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** The column value for one field, or a message saying why the value is wrong. */
function columnValue(field: Field, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  switch (field.type) {
    case "string":
    case "text": {
      const max = field.type === "string" ? MAX_STRING : MAX_TEXT;
      if (typeof value !== "string") return fail("must be a string");
      if (value.length > max) return fail("must be at most " + max + " characters");
      if (field.required && value.trim() === "") return fail("must not be empty");
      return { ok: true, value };
    }
    case "integer":
      return Number.isSafeInteger(value) ? { ok: true, value } : fail("must be an integer");
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? { ok: true, value } : fail("must be a number");
    case "boolean":
      return typeof value === "boolean" ? { ok: true, value: value ? 1 : 0 } : fail("must be true or false");
    case "date":
      return typeof value === "string" && isDate(value) ? { ok: true, value } : fail("must be a date (YYYY-MM-DD)");
    case "datetime":
      if (typeof value !== "string" || !DATETIME.test(value) || !Number.isFinite(Date.parse(value)))
        return fail("must be an ISO 8601 date-time with a time zone");
      return { ok: true, value: new Date(value).toISOString() };
    case "email":
      return typeof value === "string" && value.length <= 254 && EMAIL.test(value)
        ? { ok: true, value }
        : fail("must be an email address");
    case "url":
    case "image":
      return typeof value === "string" && isWebUrl(value) ? { ok: true, value } : fail("must be an http(s) URL");
    case "enum":
      return typeof value === "string" && (field.values ?? []).includes(value)
        ? { ok: true, value }
        : fail("must be one of " + (field.values ?? []).join(", "));
    case "reference":
      return typeof value === "string" && ID_PATTERN.test(value)
        ? { ok: true, value }
        : fail("must be the id of a " + field.ref);
  }
}

/**
 * The columns to write from a request body: every known field checked, unknown and generated keys
 * refused, and (on create) every required field present. Throws a 400 listing all the issues.
 */
export function validateBody(entity: Entity, body: Record<string, unknown>, mode: "create" | "update"): Map<string, unknown> {
  const issues: Issue[] = [];
  const keys = Object.keys(body);
  if (keys.length > entity.fields.length + 3) throw invalid([{ path: "", message: "too many fields" }]);
  const known = new Map(entity.fields.map((field) => [field.name, field]));
  for (const key of keys) {
    if (GENERATED.has(key)) issues.push({ path: key, message: "is generated and read-only" });
    else if (!known.has(key)) issues.push({ path: key, message: "is not a field of " + entity.name });
  }
  const values = new Map<string, unknown>();
  for (const field of entity.fields) {
    const present = Object.hasOwn(body, field.name) && body[field.name] !== undefined;
    if (!present) {
      if (mode === "create" && field.required) issues.push({ path: field.name, message: "is required" });
      continue;
    }
    const raw = body[field.name];
    if (raw === null) {
      if (field.required) issues.push({ path: field.name, message: "is required" });
      else values.set(field.name, null);
      continue;
    }
    const checked = columnValue(field, raw);
    if (checked.ok) values.set(field.name, checked.value);
    else issues.push({ path: field.name, message: checked.message });
  }
  if (issues.length > 0) throw invalid(issues);
  if (mode === "update" && values.size === 0) throw invalid([{ path: "", message: "nothing to update" }]);
  return values;
}

/** The page size: 1 to 100, 20 when absent. */
export function parseLimit(raw: string | null): number {
  if (raw === null) return 20;
  const limit = Number(raw);
  if (!/^\d{1,3}$/.test(raw) || limit < 1 || limit > 100)
    throw invalid([{ path: "limit", message: "must be an integer from 1 to 100" }]);
  return limit;
}

/** The cursor of the next page: the last id of the page before. */
export function parseCursor(raw: string | null): string | undefined {
  if (raw === null || raw === "") return undefined;
  if (!ID_PATTERN.test(raw)) throw invalid([{ path: "cursor", message: "is not a cursor from this API" }]);
  return raw;
}
`;
}

/** `src/store.ts`: the SQL, with every identifier double-quoted. */
export function storeSource(): string {
  return String.raw`// Rows in D1. Every identifier is double-quoted (names such as "Order" or "select" are SQL
// keywords), every value is a bound parameter.
import { HttpError, invalid } from "./http";
import { type Entity, ENTITIES } from "./schema";

const quote = (name: string) => '"' + name.replaceAll('"', '""') + '"';
const BY_NAME = new Map<string, Entity>(ENTITIES.map((entity) => [entity.name, entity]));

type Row = Record<string, unknown>;

/** A time-ordered UUID (version 7). */
export function newId(now = Date.now()): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}

/** A row as the API shows it: id first, booleans as true/false, timestamps last. */
function view(entity: Entity, row: Row): Row {
  const out: Row = { id: row.id };
  for (const field of entity.fields) {
    const value = row[field.name] ?? null;
    out[field.name] = field.type === "boolean" && value !== null ? value === 1 : value;
  }
  out.created_at = row.created_at;
  out.updated_at = row.updated_at;
  return out;
}

function notFound(entity: Entity): HttpError {
  return new HttpError(404, "Not found", "no " + entity.name + " with that id");
}

/** Maps a constraint failure to the client's mistake it reveals; anything else is rethrown. */
function constraintError(entity: Entity, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("UNIQUE constraint failed")) {
    const fields = entity.fields.filter((field) => field.unique && new RegExp("\\." + field.name + "(?![A-Za-z0-9])").test(message));
    const issues = fields.map((field) => ({ path: field.name, message: "is already taken" }));
    throw new HttpError(409, "Conflict", "a " + entity.name + " with that value already exists", issues);
  }
  if (message.includes("FOREIGN KEY constraint failed"))
    throw invalid([{ path: "", message: "refers to a row that does not exist" }]);
  throw error;
}

/** 400 when a reference names a row that does not exist (checked before writing, for a precise path). */
async function checkReferences(db: D1Database, entity: Entity, values: Map<string, unknown>): Promise<void> {
  const refs = entity.fields.filter((field) => field.type === "reference" && typeof values.get(field.name) === "string");
  if (refs.length === 0) return;
  const results = await db.batch(
    refs.map((field) => {
      const target = BY_NAME.get(field.ref as string) as Entity;
      return db.prepare("SELECT 1 AS found FROM " + quote(target.table) + " WHERE " + quote("id") + " = ?").bind(values.get(field.name));
    }),
  );
  const issues = refs
    .filter((_, index) => (results[index]?.results ?? []).length === 0)
    .map((field) => ({ path: field.name, message: "no " + field.ref + " with that id" }));
  if (issues.length > 0) throw invalid(issues);
}

/** One page of rows, oldest id first, and the cursor of the next page (null on the last). */
export async function listRows(db: D1Database, entity: Entity, limit: number, cursor?: string): Promise<{ items: Row[]; next_cursor: string | null }> {
  const where = cursor === undefined ? "" : " WHERE " + quote("id") + " > ?";
  const sql = "SELECT * FROM " + quote(entity.table) + where + " ORDER BY " + quote("id") + " LIMIT ?";
  const params = cursor === undefined ? [limit + 1] : [cursor, limit + 1];
  const { results } = await db.prepare(sql).bind(...params).all<Row>();
  const page = results.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map((row) => view(entity, row)), next_cursor: results.length > limit && last ? String(last.id) : null };
}

/** One row, or 404. */
export async function getRow(db: D1Database, entity: Entity, id: string): Promise<Row> {
  const row = await db.prepare("SELECT * FROM " + quote(entity.table) + " WHERE " + quote("id") + " = ?").bind(id).first<Row>();
  if (row === null) throw notFound(entity);
  return view(entity, row);
}

/** Inserts a row: 400 for a missing reference, 409 for a unique clash. */
export async function createRow(db: D1Database, entity: Entity, values: Map<string, unknown>): Promise<Row> {
  await checkReferences(db, entity, values);
  const now = new Date().toISOString();
  const columns = ["id", ...values.keys(), "created_at", "updated_at"];
  const params = [newId(), ...values.values(), now, now];
  const sql =
    "INSERT INTO " + quote(entity.table) + " (" + columns.map(quote).join(", ") + ") VALUES (" +
    columns.map(() => "?").join(", ") + ") RETURNING *";
  try {
    return view(entity, (await db.prepare(sql).bind(...params).first<Row>()) as Row);
  } catch (error) {
    constraintError(entity, error);
  }
}

/** Updates the given fields of a row: 404 when it does not exist, 400/409 as for create. */
export async function updateRow(db: D1Database, entity: Entity, id: string, values: Map<string, unknown>): Promise<Row> {
  await checkReferences(db, entity, values);
  const sets = [...values.keys(), "updated_at"].map((column) => quote(column) + " = ?").join(", ");
  const sql = "UPDATE " + quote(entity.table) + " SET " + sets + " WHERE " + quote("id") + " = ? RETURNING *";
  let row: Row | null;
  try {
    row = await db.prepare(sql).bind(...values.values(), new Date().toISOString(), id).first<Row>();
  } catch (error) {
    constraintError(entity, error);
  }
  if (row === null) throw notFound(entity);
  return view(entity, row);
}

/** Deletes a row: 404 when it does not exist, 409 while other rows still refer to it. */
export async function deleteRow(db: D1Database, entity: Entity, id: string): Promise<void> {
  let changes: number;
  try {
    const result = await db.prepare("DELETE FROM " + quote(entity.table) + " WHERE " + quote("id") + " = ?").bind(id).run();
    changes = result.meta.changes;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes("FOREIGN KEY constraint failed"))
      throw new HttpError(409, "Conflict", "other rows still refer to this " + entity.name);
    throw error;
  }
  if (changes === 0) throw notFound(entity);
}
`;
}
