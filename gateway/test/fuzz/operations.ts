// The operations the fuzzer draws from: the generated OpenAPI document (the same one served at
// /openapi.json and checked in at docs/openapi.json), with every `$ref` inlined.

import { openApiDocument } from "../../src/openapi/document";
import type { DocumentOperation } from "./requests";

type Document = {
  paths: Record<string, Record<string, Omit<DocumentOperation, "name" | "method" | "path">>>;
  components: Record<string, Record<string, unknown>>;
};

function inlined(value: unknown, components: Document["components"], depth = 0): unknown {
  if (depth > 32) throw new Error("fuzz: the document's references nest deeper than 32");
  if (Array.isArray(value)) return value.map((entry) => inlined(entry, components, depth + 1));
  if (typeof value !== "object" || value === null) return value;
  const ref = (value as { $ref?: unknown }).$ref;
  if (typeof ref === "string") {
    const [, , kind = "", name = ""] = ref.split("/");
    return inlined(components[kind]?.[name], components, depth + 1);
  }
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, inlined(entry, components, depth + 1)]));
}

/** Every operation of the document, `get /api/jobs/{id}`-named, in the document's order. */
export function documentOperations(): DocumentOperation[] {
  const document = openApiDocument() as Document;
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const resolved = inlined(operation, document.components) as Omit<DocumentOperation, "name" | "method" | "path">;
      return {
        name: `${method} ${path}`,
        method,
        path,
        security: resolved.security ?? [],
        parameters: resolved.parameters ?? [],
        ...(resolved.requestBody ? { requestBody: resolved.requestBody } : {}),
      };
    }),
  );
}
