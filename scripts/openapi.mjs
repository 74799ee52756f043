#!/usr/bin/env node
// `npm run openapi`: writes docs/openapi.json from the gateway's operation table and the shared
// valibot schemas, the same code that serves GET /openapi.json. `--check` fails when the checked-in
// copy differs from what the code generates (CI runs it). Either way the document is validated.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { validate } from "@readme/openapi-parser";
import { build } from "esbuild";
import { root } from "./workers.mjs";

const target = join(root, "docs", "openapi.json");
const bundle = await build({
  entryPoints: [join(root, "gateway", "src", "openapi", "document.ts")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
  logLevel: "error",
});
const source = bundle.outputFiles[0].text;
const { openApiDocument } = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
const document = openApiDocument();
const generated = `${JSON.stringify(document, null, 2)}\n`;

// An independent OpenAPI 3.1 validator: the generator's output must be a valid document.
const validation = await validate(structuredClone(document));
if (!validation.valid) {
  console.error("openapi: the generated document is not valid OpenAPI 3.1:");
  console.error(JSON.stringify(validation.errors, null, 2));
  process.exit(1);
}

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== generated) {
    console.error("docs/openapi.json is out of date: run `npm run openapi` and commit it");
    process.exit(1);
  }
  console.log("openapi: docs/openapi.json is current");
} else {
  writeFileSync(target, generated);
  const operations = Object.values(document.paths).reduce((sum, item) => sum + Object.keys(item).length, 0);
  console.log(`openapi: wrote docs/openapi.json (${operations} operations)`);
}
