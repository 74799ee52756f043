// A small, bounded JSON Schema → fast-check mapper for the keywords the OpenAPI document uses (type,
// const, enum, anyOf, string bounds/pattern/format, number bounds, items, properties, required,
// additionalProperties, propertyNames). `validValue` draws instances the schema accepts; `brokenValue`
// draws ones it rejects in each way the schema allows: wrong types, missing required members,
// members it forbids, strings and numbers past their bounds, values broken deep inside.
// Sizes are capped so one drawn body stays a few KB at most (the huge ones are built, not drawn).

import fc from "fast-check";

/** A JSON Schema (2020-12) as the document holds it, references already inlined. */
export type JsonSchema = Record<string, unknown>;

/** Values a schema member of this name should sometimes take: ids of resources that exist. */
export type Hints = Readonly<Record<string, readonly unknown[]>>;

const MAX_DEPTH = 4;
const HUGE = 70_000;
const hugeString = fc.constantFrom("x".repeat(HUGE), "é".repeat(HUGE / 2), "\u{1F600}".repeat(HUGE / 4));
const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -(2 ** 53) - 1, 5e-324, Number.MAX_SAFE_INTEGER * 1e6);
const anyJson = fc.jsonValue({ maxDepth: 2 });
const binaryText = fc.string({ unit: "binary", maxLength: 20 });

function typesOf(schema: JsonSchema): string[] {
  const type = schema.type;
  if (typeof type === "string") return [type];
  if (Array.isArray(type)) return type as string[];
  if (schema.properties || schema.additionalProperties !== undefined) return ["object"];
  if (schema.items) return ["array"];
  return [];
}

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
  const maxLength = Math.min(typeof schema.maxLength === "number" ? schema.maxLength : 40, minLength + 40);
  // fc.emailAddress draws the whole RFC grammar and is slow; a plain address is what clients send.
  if (schema.format === "email")
    return fc
      .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.+-]{0,20}$/), fc.constantFrom("example.com", "b.co", "x.test"))
      .map(([local, domain]) => `${local}@${domain}`);
  if (schema.format === "date-time" || schema.format === "date") {
    const iso = fc
      .date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2030-01-01T00:00:00Z"), noInvalidDate: true })
      .map((date) => date.toISOString());
    return schema.format === "date" ? iso.map((text) => text.slice(0, 10)) : iso;
  }
  if (typeof schema.pattern === "string") {
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((text) => text.length >= minLength && text.length <= ((schema.maxLength as number | undefined) ?? 1e9))
      .map((text) => text.slice(0, 300));
  }
  return fc.string({ minLength, maxLength });
}

function validNumber(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = typeof schema.minimum === "number" ? schema.minimum : -1_000_000;
  const max = typeof schema.maximum === "number" ? schema.maximum : 1_000_000;
  if (integer) return fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
  return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

function validObject(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  const members: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, member] of Object.entries(properties)) members[name] = valueFor(name, member, hints, depth + 1);
  // fc.record leaves out optional members at random, so each draw names a different subset.
  return fc.record(members, { requiredKeys: [...required].filter((name) => name in properties) }) as fc.Arbitrary<
    Record<string, unknown>
  >;
}

function valueFor(name: string, schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const hinted = hints[name];
  const valid = validValue(schema, hints, depth);
  return hinted && hinted.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...hinted), weight: 2 }, valid) : valid;
}

/** Instances `schema` accepts (as far as JSON Schema can say; services may refine further). */
export function validValue(schema: JsonSchema, hints: Hints = {}, depth = 0): fc.Arbitrary<unknown> {
  if ("const" in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf))
    return fc.oneof(...(schema.anyOf as JsonSchema[]).map((branch) => validValue(branch, hints, depth)));
  if (depth > MAX_DEPTH) return fc.constant(null);
  const types = typesOf(schema);
  if (types.length === 0) return anyJson;
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<unknown> => {
      switch (type) {
        case "string":
          return validString(schema);
        case "integer":
          return validNumber(schema, true);
        case "number":
          return validNumber(schema, false);
        case "boolean":
          return fc.boolean();
        case "null":
          return fc.constant(null);
        case "array": {
          const minLength = typeof schema.minItems === "number" ? schema.minItems : 0;
          const maxLength = Math.min(typeof schema.maxItems === "number" ? schema.maxItems : 3, minLength + 3);
          return fc.array(validValue((schema.items ?? {}) as JsonSchema, hints, depth + 1), { minLength, maxLength });
        }
        default:
          return validObject(schema, hints, depth);
      }
    }),
  );
}

/** A value of a JSON type `schema` does not allow (any type, when it allows all). */
function wrongType(schema: JsonSchema): fc.Arbitrary<unknown> {
  const allowed = new Set(typesOf(schema));
  if (allowed.has("integer")) allowed.add("number");
  const all: [string, fc.Arbitrary<unknown>][] = [
    ["string", fc.constantFrom("", "0", "true", "null", "{}", "[]")],
    ["number", fc.constantFrom(0, -1, 1.5, 1e21)],
    ["boolean", fc.boolean()],
    ["null", fc.constant(null)],
    ["array", fc.constantFrom([], [1, "a"], [[]])],
    ["object", fc.constantFrom({}, { "": null }, JSON.parse('{"__proto__":1}'))],
  ];
  const wrong = all.filter(([type]) => !allowed.has(type)).map(([, arbitrary]) => arbitrary);
  return wrong.length > 0 ? fc.oneof(...wrong) : fc.constant(Symbol.for("unrepresentable"));
}

/** Values just past (and far past) the schema's own bounds, when it has any. */
function outOfBounds(schema: JsonSchema): fc.Arbitrary<unknown>[] {
  const broken: fc.Arbitrary<unknown>[] = [];
  const types = typesOf(schema);
  if (types.includes("string")) {
    if (typeof schema.maxLength === "number" && schema.maxLength < HUGE)
      broken.push(fc.constant("y".repeat(schema.maxLength + 1)));
    if (typeof schema.minLength === "number" && schema.minLength > 0)
      broken.push(fc.constant("z".repeat(schema.minLength - 1)));
    if (schema.pattern || schema.format)
      broken.push(
        fc.constantFrom(" ", "..", "../../etc", "%00", "\u0000", "a\nb", "\u202e", "%", "-", "A".repeat(300)),
      );
    broken.push(hugeString, binaryText);
  }
  if (types.includes("integer") || types.includes("number")) {
    if (typeof schema.maximum === "number") broken.push(fc.constant(schema.maximum + 1));
    if (typeof schema.minimum === "number") broken.push(fc.constant(schema.minimum - 1));
    if (types.includes("integer")) broken.push(fc.constant(0.5));
    broken.push(hugeNumber);
  }
  if (types.includes("array")) {
    const items = (schema.items ?? {}) as JsonSchema;
    if (typeof schema.maxItems === "number" && schema.maxItems < 300)
      broken.push(fc.constant(Array.from({ length: schema.maxItems + 1 }, () => null)));
    if (typeof schema.minItems === "number" && schema.minItems > 0) broken.push(fc.constant([]));
    broken.push(fc.array(brokenValue(items), { minLength: 1, maxLength: 2 }));
  }
  if (Array.isArray(schema.enum))
    broken.push(fc.constantFrom("not-a-member", "", String(schema.enum[0]).toUpperCase()));
  return broken;
}

function brokenObject(schema: JsonSchema, hints: Hints): fc.Arbitrary<unknown>[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = ((schema.required ?? []) as string[]).filter((name) => name in properties);
  const valid = validObject(schema, hints, 1);
  const broken: fc.Arbitrary<unknown>[] = [];
  if (required.length > 0)
    broken.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([value, missing]) => {
        const { [missing]: _dropped, ...rest } = value;
        return rest;
      }),
    );
  if (schema.additionalProperties === false)
    broken.push(
      fc
        .tuple(valid, fc.constantFrom("extra", "__proto__", "constructor", "", "x".repeat(500)), anyJson)
        .map(([value, name, extra]) =>
          JSON.parse(
            `${JSON.stringify(value).slice(0, -1)}${Object.keys(value).length > 0 ? "," : ""}${JSON.stringify(name)}:${JSON.stringify(extra ?? null)}}`,
          ),
        ),
    );
  // One arbitrary per member, built once: building arbitraries inside a chain costs more per draw than the draw.
  for (const [name, member] of Object.entries(properties))
    broken.push(fc.tuple(valid, brokenValue(member, hints)).map(([value, bad]) => ({ ...value, [name]: bad })));
  return broken;
}

/**
 * Instances `schema` rejects, or would if it said so (a value broken somewhere inside). A schema
 * that accepts anything yields odd but valid JSON, which the owning service must still answer cleanly.
 */
export function brokenValue(schema: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> {
  const broken: fc.Arbitrary<unknown>[] = [wrongType(schema), ...outOfBounds(schema)];
  if (typesOf(schema).includes("object")) broken.push(...brokenObject(schema, hints));
  if (Array.isArray(schema.anyOf))
    broken.push(...(schema.anyOf as JsonSchema[]).map((branch) => brokenValue(branch, hints)));
  const deep = fc.constant(JSON.parse("[".repeat(64) + "]".repeat(64)));
  return fc.oneof(...broken, deep).map((value) => (value === Symbol.for("unrepresentable") ? { odd: true } : value));
}
