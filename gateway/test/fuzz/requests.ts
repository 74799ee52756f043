// Requests drawn from the OpenAPI document: for each operation, its path parameters, query, headers,
// auth and body, each valid or broken. What the schemas cannot know (tokens, ids of resources that
// exist, other tenants' ids) comes from a FuzzWorld the test builds against the mesh first.

import fc from "fast-check";
import { brokenValue, type Hints, type JsonSchema, validValue } from "./schema-arbitraries";

/** One request to send: everything a Request needs, plus what was drawn, to print on failure. */
export interface FuzzRequest {
  operation: string;
  method: string;
  /** Path and query, raw: hostile segments are left as drawn for the URL parser to handle. */
  target: string;
  headers: [string, string][];
  body?:
    | { kind: "text"; text: string }
    | { kind: "bytes"; bytes: Uint8Array }
    | { kind: "stream"; bytes: Uint8Array }
    | { kind: "form"; fields: [string, string | Uint8Array][] };
  /** How the request was shaped ("auth:forged body:broken …"), for the failure report. */
  shape: string;
}

/** Credentials and resource ids the fuzzer draws from; `victim*` belong to the tenant it must not touch. */
export interface FuzzWorld {
  token: string;
  account: string;
  /** Tokens the gateway must refuse: forged signatures, wrong issuer, expired, the victim's sub forged. */
  badTokens: readonly string[];
  adminKeys: { valid: readonly string[]; invalid: readonly string[] };
  /** Path-parameter values by name (`id`, `key`, `kid`, `account`): the caller's and the victim's. */
  pathValues: Readonly<Record<string, readonly string[]>>;
  /** Body-member values by name (`upload_key`, `account`, `id`, …). */
  bodyValues: Hints;
  /** An ETag of a flag the fuzzer may change. */
  etags: readonly string[];
}

type Parameter = { name: string; in: string; required?: boolean; schema?: JsonSchema };
/** One operation of the (inlined) document. */
export interface DocumentOperation {
  name: string;
  method: string;
  path: string;
  security: Record<string, string[]>[];
  parameters: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> };
}

const HOSTILE_SEGMENTS = [
  "%",
  "%%",
  "%00",
  "%ZZ",
  "%C3%28",
  "%FF%FE",
  "%E2%82",
  "%F0%9F%98%80",
  "%2e%2e",
  "..",
  ".",
  "a%2Fb",
  "%2F",
  "\u0000",
  "a\u0000b",
  "é",
  "~",
  "a b",
  "'%20OR%201=1--",
  "%3Cscript%3E",
  "x".repeat(5_000),
  "1".repeat(300),
  "guest:",
  ":",
  "@",
  "%0d%0a",
  "\\",
];
// No bytes above 0x7f: workerd sends those as UTF-8 with a warning each, where a browser refuses them.
const BAD_HEADER_VALUES = ["", " ", "x".repeat(256), "x".repeat(9_000), "\u007f", "a\tb", '"', "*", "%00", "a,b"];
const printable = fc.string({ maxLength: 40 }).map((text) => text.replace(/[^\x20-\x7e]/g, "_"));

function pathSegment(name: string, world: FuzzWorld): fc.Arbitrary<string> {
  const known = world.pathValues[name] ?? [];
  return fc.oneof(
    ...(known.length > 0 ? [{ arbitrary: fc.constantFrom(...known), weight: 4 }] : []),
    { arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,30}$/), weight: 2 },
    { arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS), weight: 2 },
  );
}

function queryValue(schema: JsonSchema): fc.Arbitrary<string> {
  const asText = (value: unknown) => (typeof value === "string" ? value : (JSON.stringify(value) ?? ""));
  return fc.oneof(
    { arbitrary: validValue(schema).map((value) => encodeURIComponent(asText(value))), weight: 4 },
    { arbitrary: brokenValue(schema).map((value) => encodeURIComponent(asText(value).slice(0, 3_000))), weight: 2 },
    { arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS), weight: 1 },
  );
}

function query(parameters: Parameter[]): fc.Arbitrary<string> {
  const own = parameters.filter((parameter) => parameter.in === "query");
  const parts = own.map((parameter) =>
    fc.option(
      queryValue(parameter.schema ?? {}).map((value) => `${parameter.name}=${value}`),
      {
        freq: parameter.required ? 8 : 2,
      },
    ),
  );
  const extra = fc.option(fc.constantFrom("unknown=1", "limit=1&limit=2", "=", "&&", "a=%", "x=%00"), { freq: 6 });
  return fc.tuple(...parts, extra).map((drawn) => {
    const present = drawn.filter((part): part is string => part !== null);
    return present.length > 0 ? `?${present.join("&")}` : "";
  });
}

type Auth = { header?: [string, string]; shape: string };

function auth(operation: DocumentOperation, world: FuzzWorld): fc.Arbitrary<Auth> {
  const schemes = new Set(operation.security.flatMap((entry) => Object.keys(entry)));
  const options: fc.WeightedArbitrary<Auth>[] = [
    { arbitrary: fc.constant({ shape: "auth:none" }), weight: 1 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...world.badTokens, "", "null", "a.b.c", "x".repeat(5_000)), fc.constantFrom(0, 1, 2))
        .map(([token, form]): Auth => {
          const scheme = (["Bearer ", "bearer  ", "Basic "] as const)[form];
          return { header: ["Authorization", `${scheme}${token}`], shape: `auth:bad-token-${form}` };
        }),
      weight: 1,
    },
  ];
  const bearer = { header: ["Authorization", `Bearer ${world.token}`] as [string, string], shape: "auth:bearer" };
  if (schemes.has("guestToken") || schemes.size === 0) options.push({ arbitrary: fc.constant(bearer), weight: 6 });
  if (schemes.has("adminKey")) {
    options.push(
      {
        arbitrary: fc.constantFrom(...world.adminKeys.valid).map((key) => ({
          header: ["X-Admin-Key", key] as [string, string],
          shape: "auth:admin",
        })),
        weight: 5,
      },
      {
        arbitrary: fc.constantFrom(...world.adminKeys.invalid).map((key) => ({
          header: ["X-Admin-Key", key] as [string, string],
          shape: "auth:bad-admin",
        })),
        weight: 2,
      },
    );
    // An admin operation with a valid guest token: the wrong credential, not none.
    if (!schemes.has("guestToken")) options.push({ arbitrary: fc.constant(bearer), weight: 1 });
  }
  return fc.oneof(...options);
}

function optionalHeader(name: string, valid: fc.Arbitrary<string>): fc.Arbitrary<[string, string] | null> {
  return fc.option(
    fc
      .oneof({ arbitrary: valid, weight: 3 }, { arbitrary: fc.constantFrom(...BAD_HEADER_VALUES), weight: 1 })
      .map((value): [string, string] => [name, value]),
    { freq: 2 },
  );
}

function extraHeaders(operation: DocumentOperation, world: FuzzWorld): fc.Arbitrary<[string, string][]> {
  const declared = new Set(
    operation.parameters.filter((parameter) => parameter.in === "header").map((parameter) => parameter.name),
  );
  const drawn: fc.Arbitrary<[string, string] | null>[] = [
    optionalHeader("X-Request-Id", printable),
    fc.option(
      fc.constantFrom<[string, string]>(["Origin", "https://app.example.com"], ["Origin", "https://evil.example"]),
      { freq: 8 },
    ),
  ];
  if (declared.has("Idempotency-Key"))
    drawn.push(optionalHeader("Idempotency-Key", fc.stringMatching(/^[A-Za-z0-9-]{1,40}$/)));
  if (declared.has("If-Match")) drawn.push(optionalHeader("If-Match", fc.constantFrom(...world.etags, '"0"', 'W/"1"')));
  if (declared.has("If-None-Match"))
    drawn.push(optionalHeader("If-None-Match", fc.constantFrom('"0"', "*", '"abc", "def"')));
  if (declared.has("X-File-Name"))
    drawn.push(
      optionalHeader(
        "X-File-Name",
        fc.constantFrom("a.txt", "../../etc/passwd", "%00.txt", "a%2Fb", "é.txt", "x".repeat(2_000)),
      ),
    );
  // /auth/guest limits issuance per client address: a drawn address per request, or none.
  if (operation.path === "/auth/guest")
    drawn.push(
      fc.option(
        fc
          .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
          .map((octets): [string, string] => ["CF-Connecting-IP", octets.join(".")]),
        { freq: 8 },
      ),
    );
  return fc.tuple(...drawn).map((headers) => headers.filter((header): header is [string, string] => header !== null));
}

const JSON_TYPES = ["application/json", "application/json; charset=utf-8"];
const WRONG_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/json; charset=utf-16",
  "multipart/form-data",
  "application/jsonx",
  "x".repeat(3_000),
];

type Body = { contentType?: string; body?: FuzzRequest["body"]; shape: string };

function jsonBody(schema: JsonSchema, world: FuzzWorld, required: boolean): fc.Arbitrary<Body> {
  const text = (value: unknown) => ({ kind: "text" as const, text: JSON.stringify(value) ?? "null" });
  const encoder = new TextEncoder();
  const bodies = fc.oneof(
    {
      arbitrary: validValue(schema, world.bodyValues).map((value) => ({
        contentType: "application/json",
        body: text(value),
        shape: "body:valid",
      })),
      weight: 8,
    },
    {
      arbitrary: brokenValue(schema, world.bodyValues).map((value) => ({
        contentType: "application/json",
        body: text(value),
        shape: "body:broken",
      })),
      weight: 6,
    },
    {
      arbitrary: fc.tuple(validValue(schema, world.bodyValues), fc.nat(7)).map(([value, form]) => {
        const text = JSON.stringify(value) ?? "null";
        const malformed = [text.slice(0, -1), `${text}}`, `{"a":`, "{'a':1}", "[", "\uFEFF{}", '{"a":1,}', "NaN"];
        return {
          contentType: "application/json",
          body: { kind: "text" as const, text: malformed[form] ?? "" },
          shape: "body:malformed",
        };
      }),
      weight: 2,
    },
    {
      arbitrary: fc
        .constantFrom(
          [0xff, 0xfe],
          [0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d],
          [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d],
          [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
        )
        .map((bytes) => ({
          contentType: "application/json",
          body: { kind: "bytes" as const, bytes: Uint8Array.from(bytes) },
          shape: "body:bad-utf8",
        })),
      weight: 1,
    },
    {
      arbitrary: fc.constantFrom(5_000, 70_000).map((size) => ({
        contentType: "application/json",
        body: { kind: "text" as const, text: JSON.stringify({ pad: "p".repeat(size) }) },
        shape: "body:oversized",
      })),
      weight: 1,
    },
    {
      arbitrary: fc.constantFrom(4_097, 100_000).map((size) => ({
        contentType: "application/json",
        body: { kind: "stream" as const, bytes: encoder.encode(JSON.stringify({ pad: "s".repeat(size) })) },
        shape: "body:oversized-unsized",
      })),
      weight: 1,
    },
    { arbitrary: fc.constant<Body>({ shape: required ? "body:missing" : "body:none" }), weight: 1 },
    {
      arbitrary: fc
        .tuple(validValue(schema, world.bodyValues), fc.constantFrom(...WRONG_TYPES, undefined))
        .map(([value, contentType]) => ({
          contentType,
          body: text(value),
          shape: "body:wrong-type",
        })),
      weight: 2,
    },
  );
  // A charset parameter on half of the JSON bodies (the media type is what must decide).
  return fc
    .tuple(bodies, fc.constantFrom(...JSON_TYPES))
    .map(([drawn, type]) => (drawn.contentType === "application/json" ? { ...drawn, contentType: type } : drawn));
}

function binaryBody(types: string[], alternative: JsonSchema | undefined, world: FuzzWorld): fc.Arbitrary<Body> {
  const audioish = fc.oneof(
    fc.uint8Array({ maxLength: 2_048 }),
    fc.constant(new Uint8Array(70_000)),
    fc.constant(new TextEncoder().encode("RIFF\u0000\u0000\u0000\u0000WAVEfmt ")),
  );
  const options: fc.WeightedArbitrary<Body>[] = [
    {
      arbitrary: fc
        .tuple(audioish, fc.constantFrom(...types))
        .map(([bytes, contentType]) => ({ contentType, body: { kind: "bytes" as const, bytes }, shape: "body:bytes" })),
      weight: 6,
    },
    {
      arbitrary: fc.tuple(audioish, fc.constantFrom(...types)).map(([bytes, contentType]) => ({
        contentType,
        body: { kind: "stream" as const, bytes },
        shape: "body:unsized",
      })),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(audioish, fc.constantFrom(...WRONG_TYPES, "audio/x-nope", "image/png", undefined))
        .map(([bytes, contentType]) => ({
          contentType,
          body: { kind: "bytes" as const, bytes },
          shape: "body:wrong-type",
        })),
      weight: 2,
    },
    {
      arbitrary: fc.constant<Body>({
        contentType: types[0],
        body: { kind: "bytes", bytes: new Uint8Array() },
        shape: "body:empty",
      }),
      weight: 1,
    },
  ];
  if (alternative) options.push({ arbitrary: jsonBody(alternative, world, true), weight: 4 });
  return fc.oneof(...options);
}

function multipartBody(schema: JsonSchema): fc.Arbitrary<Body> {
  const properties = Object.keys((schema.properties ?? {}) as Record<string, unknown>);
  const field = (name: string): fc.Arbitrary<[string, string | Uint8Array] | null> =>
    fc.option(
      name === "file"
        ? fc.uint8Array({ maxLength: 1_024 }).map((bytes): [string, string | Uint8Array] => [name, bytes])
        : fc
            .oneof(fc.constantFrom("whisper-1", "json", "text", "verbose_json", "en", ""), printable)
            .map((value): [string, string | Uint8Array] => [name, value]),
      { freq: 6 },
    );
  return fc.oneof(
    {
      arbitrary: fc.tuple(...properties.map(field)).map((fields) => ({
        body: {
          kind: "form" as const,
          fields: fields.filter((entry): entry is [string, string | Uint8Array] => entry !== null),
        },
        shape: "body:form",
      })),
      weight: 5,
    },
    {
      arbitrary: fc
        .constantFrom("multipart/form-data", "multipart/form-data; boundary=x", 'multipart/form-data; boundary=""')
        .map((contentType) => ({
          contentType,
          body: { kind: "text" as const, text: '--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc' },
          shape: "body:bad-multipart",
        })),
      weight: 1,
    },
    {
      arbitrary: fc.constant<Body>({
        contentType: "application/json",
        body: { kind: "text", text: "{}" },
        shape: "body:wrong-type",
      }),
      weight: 1,
    },
  );
}

function body(operation: DocumentOperation, world: FuzzWorld): fc.Arbitrary<Body> {
  const content = operation.requestBody?.content;
  if (!content)
    return fc.oneof(
      { arbitrary: fc.constant<Body>({ shape: "body:none" }), weight: 9 },
      {
        arbitrary: fc.constant<Body>({
          contentType: "application/json",
          body: { kind: "text", text: '{"unexpected":true}' },
          shape: "body:unexpected",
        }),
        weight: 1,
      },
    );
  const types = Object.keys(content);
  if (types.includes("multipart/form-data")) return multipartBody(content["multipart/form-data"]?.schema ?? {});
  const binary = types.filter((type) => type !== "application/json");
  if (binary.length > 0) return binaryBody(binary, content["application/json"]?.schema, world);
  return jsonBody(content["application/json"]?.schema ?? {}, world, operation.requestBody?.required ?? false);
}

/** Requests for one operation: every part drawn independently, valid or broken. */
export function requestArbitrary(operation: DocumentOperation, world: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const names = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? "");
  const segments =
    names.length > 0 ? fc.tuple(...names.map((name) => pathSegment(name, world))) : fc.constant([] as string[]);
  return fc
    .record({
      segments,
      query: query(operation.parameters),
      auth: auth(operation, world),
      headers: extraHeaders(operation, world),
      body: body(operation, world),
    })
    .map(({ segments: values, query: search, auth: credential, headers, body: drawn }) => {
      let index = 0;
      const path = operation.path.replace(/\{[^}]+\}/g, () => values[index++] ?? "");
      const all: [string, string][] = [...headers];
      if (credential.header) all.push(credential.header);
      if (drawn.contentType !== undefined) all.push(["Content-Type", drawn.contentType]);
      return {
        operation: operation.name,
        method: operation.method.toUpperCase(),
        target: `${path}${search}`,
        headers: all,
        ...(drawn.body ? { body: drawn.body } : {}),
        shape: `${credential.shape} ${drawn.shape}`,
      };
    });
}
