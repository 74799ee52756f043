#!/usr/bin/env node
// `npm run docs:config`: writes docs/configuration.md from every worker's settings declaration
// (<worker>/src/settings.ts, the same objects the code reads its env through) and the bindings in its
// wrangler.jsonc. `--check` (CI) fails when the checked-in page differs from what the code generates,
// or when a var in a wrangler.jsonc, a name in scripts/start.mjs SETTINGS / DEV_DEFAULTS or in a
// .dev.vars.example contradicts the declarations (the rule is stated at the top of the page).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { stripJsonc } from "./audit-routes.mjs";
import { root, workerDirs } from "./workers.mjs";

const target = join(root, "docs", "configuration.md");
// A var in wrangler.jsonc may differ from its declared default only under a comment line saying so.
const OVERRIDE_MARK = /^\s*\/\/\s*override:/;

async function declarations() {
  const dirs = workerDirs().filter((dir) => existsSync(join(root, dir, "src", "settings.ts")));
  const entry = dirs.map(
    (dir, i) => `export * as w${i} from ${JSON.stringify(join(root, dir, "src", "settings.ts"))};`,
  );
  const bundle = await build({
    stdin: { contents: entry.join("\n"), resolveDir: root, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "error",
  });
  const module = await import(
    `data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString("base64")}`
  );
  return dirs.map((dir, i) => {
    const found = Object.values(module[`w${i}`]).filter((value) => value && typeof value.read === "function");
    if (found.length !== 1) throw new Error(`${dir}/src/settings.ts must export exactly one declareSettings(...)`);
    return { dir, declaration: found[0] };
  });
}

function wranglerConfig(dir) {
  const text = readFileSync(join(root, dir, "wrangler.jsonc"), "utf8");
  return { text, config: JSON.parse(stripJsonc(text)) };
}

// Names marked `// override: why` on the line right above their `"NAME":` in wrangler.jsonc's vars.
function overridden(text) {
  const lines = text.split("\n");
  const names = new Map();
  for (let i = 1; i < lines.length; i++) {
    const name = /^\s*"([A-Z][A-Z0-9_]*)"\s*:/.exec(lines[i])?.[1];
    if (name && OVERRIDE_MARK.test(lines[i - 1])) names.set(name, lines[i - 1].replace(OVERRIDE_MARK, "").trim());
  }
  return names;
}

function bindings(config) {
  const rows = [];
  for (const kv of config.kv_namespaces ?? []) rows.push([kv.binding, "KV namespace", ""]);
  for (const bucket of config.r2_buckets ?? []) rows.push([bucket.binding, "R2 bucket", bucket.bucket_name ?? ""]);
  for (const object of config.durable_objects?.bindings ?? [])
    rows.push([object.name, "Durable Object", object.class_name]);
  for (const service of config.services ?? [])
    rows.push([
      service.binding,
      "service (RPC)",
      `${service.service}${service.entrypoint ? ` → ${service.entrypoint}` : ""}`,
    ]);
  for (const hyperdrive of config.hyperdrive ?? []) rows.push([hyperdrive.binding, "Hyperdrive (PostgreSQL)", ""]);
  for (const db of config.d1_databases ?? []) rows.push([db.binding, "D1 database", db.database_name ?? ""]);
  for (const queue of config.queues?.producers ?? []) rows.push([queue.binding, "queue producer", queue.queue]);
  if (config.ai) rows.push([config.ai.binding, "Workers AI", "production only"]);
  for (const index of config.vectorize ?? []) rows.push([index.binding, "Vectorize index", index.index_name]);
  for (const cron of config.triggers?.crons ?? []) rows.push(["(cron)", "scheduled trigger", cron]);
  return rows;
}

function rule(spec) {
  const unit = spec.unit ? ` ${spec.unit}` : "";
  switch (spec.kind) {
    case "integer":
      return `integer ${spec.min}–${spec.max}${unit}`;
    case "decimal":
      return `decimal 0–${spec.max}${unit}, ≤ ${spec.places} decimals`;
    case "boolean":
      return "true / false";
    case "enum":
      return spec.values.map((value) => `\`${value}\``).join(", ");
    case "text":
      return spec.format ? spec.format.description : "text";
    case "url":
      return "http(s) URL";
    case "list":
      return spec.lowercase ? "comma list (lower-cased)" : "comma list";
  }
  throw new Error(`unknown setting kind ${spec.kind}`);
}

function shown(spec) {
  if (spec.secret) return "**secret**";
  if (spec.default === undefined) return "(unset)";
  return `\`${String(spec.default).replaceAll("|", "\\|")}\``;
}

// The scripts/start.mjs lists, read from its text: the script starts the mesh when imported.
function startLists() {
  const text = readFileSync(join(root, "scripts", "start.mjs"), "utf8");
  const list = /const SETTINGS = \[([^\]]*)\]/.exec(text)?.[1];
  const defaults = /const DEV_DEFAULTS = \{([^}]*)\}/.exec(text)?.[1];
  if (list === undefined || defaults === undefined)
    throw new Error("scripts/start.mjs: SETTINGS or DEV_DEFAULTS not found");
  const names = [...list.matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((match) => match[1]);
  const devDefaults = Object.fromEntries(
    [...defaults.matchAll(/([A-Z][A-Z0-9_]*):\s*"([^"]*)"/g)].map((m) => [m[1], m[2]]),
  );
  return { names, devDefaults };
}

function render(workers, devDefaults) {
  const out = [
    "# Configuration",
    "",
    "<!-- Generated by `npm run docs:config` from each worker's src/settings.ts and wrangler.jsonc; do not edit. -->",
    "",
    "Every setting a worker reads is declared once, in that worker's `src/settings.ts`, and the code reads",
    "its env only through that declaration (`declareSettings` in `shared/src/settings.ts`). This page is",
    "generated from the declarations; CI (`npm run docs:config -- --check`) fails when it is stale.",
    "",
    "**Rules**",
    "",
    "- Unset or blank (whitespace only) takes the default below. A value that breaks its rule is never",
    "  clamped or replaced: the worker answers 503 `not_configured` naming the setting until it is fixed.",
    "- Secrets are set with `wrangler secret put <NAME>` (locally: the root `.dev.vars`), never in",
    "  `wrangler.jsonc`; this page never shows their values.",
    "- A var in a worker's `wrangler.jsonc` must be declared by that worker and equal its declared default,",
    "  so a default is stated once. A deliberate difference is marked by a `// override: <why>` comment on",
    "  the line above it, and is listed under the worker's table.",
    "- `npm start` passes exactly the names in `scripts/start.mjs` SETTINGS (every declared setting, no",
    "  other) from `.dev.vars` or the environment; its DEV_DEFAULTS are deliberate local overrides and must",
    "  be valid values.",
    "",
  ];
  for (const { dir, declaration, config, overrides } of workers) {
    out.push(`## ${declaration.worker} (\`${dir}\`, ${config.name})`, "");
    const specs = Object.entries(declaration.specs);
    if (specs.length === 0) out.push("No settings.", "");
    else {
      out.push("| Setting | Default | Allowed | Meaning |", "|---|---|---|---|");
      for (const [name, spec] of specs)
        out.push(`| \`${name}\` | ${shown(spec)} | ${rule(spec)} | ${spec.meaning.replaceAll("|", "\\|")} |`);
      out.push("");
    }
    const notes = [];
    for (const [name, why] of overrides)
      notes.push(`- \`wrangler.jsonc\` sets \`${name}\` to \`${config.vars[name]}\`${why ? `: ${why}` : ""}.`);
    for (const [name, value] of Object.entries(devDefaults))
      if (name in declaration.specs)
        notes.push(`- \`npm start\` sets \`${name}\` to \`${value}\` unless .dev.vars does.`);
    if (notes.length > 0) out.push(...notes, "");
    const rows = bindings(config);
    if (rows.length > 0) {
      out.push("Bindings:", "", "| Binding | Kind | Target |", "|---|---|---|");
      for (const [name, kind, detail] of rows) out.push(`| \`${name}\` | ${kind} | ${detail} |`);
      out.push("");
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

// Through the declaration's own reader, so the check parses exactly as the worker does.
function sameAsDefault(declaration, name, value) {
  let read;
  try {
    read = declaration.read({ [name]: value })[name];
  } catch (error) {
    return `is not valid (${error.message})`;
  }
  const fallback = declaration.read({})[name];
  return JSON.stringify(read) === JSON.stringify(fallback)
    ? undefined
    : `is ${JSON.stringify(value)}, the declared default is ${JSON.stringify(fallback)}`;
}

function drift(workers, start) {
  const problems = [];
  const declared = new Map();
  for (const { dir, declaration, config, overrides } of workers) {
    for (const name of Object.keys(declaration.specs)) declared.set(name, declaration);
    // Each `env` block of wrangler.jsonc is a deployment too, held to the same rule.
    const scopes = [
      ["", config.vars],
      ...Object.entries(config.env ?? {}).map(([env, block]) => [`env.${env}.`, block.vars]),
    ];
    const allVars = new Set();
    for (const [scope, vars] of scopes)
      for (const [name, value] of Object.entries(vars ?? {})) {
        allVars.add(name);
        const where = `${dir}/wrangler.jsonc: ${scope}vars.${name}`;
        const spec = declaration.specs[name];
        if (spec === undefined) {
          problems.push(`${where} is not declared in ${dir}/src/settings.ts`);
          continue;
        }
        if (spec.secret) {
          problems.push(`${where} is a secret; set it with wrangler secret put, not in vars`);
          continue;
        }
        const wrong = sameAsDefault(declaration, name, String(value));
        if (overrides.has(name)) {
          if (wrong?.startsWith("is not valid")) problems.push(`${where} ${wrong}`);
        } else if (wrong) problems.push(`${where} ${wrong} (mark a deliberate one // override: why)`);
      }
    for (const name of overrides.keys())
      if (!allVars.has(name)) problems.push(`${dir}/wrangler.jsonc: // override: marks ${name}, not a var`);
    const example = join(root, dir, ".dev.vars.example");
    // Linear: blanks, then an optional `#` and its blanks, never two blank runs that compete.
    if (existsSync(example))
      for (const match of readFileSync(example, "utf8").matchAll(/^[ \t]*(?:#[ \t]*)?([A-Z][A-Z0-9_]*)=/gm))
        if (!(match[1] in declaration.specs))
          problems.push(`${dir}/.dev.vars.example: ${match[1]} is not declared in ${dir}/src/settings.ts`);
  }
  const passed = new Set(start.names);
  for (const name of passed)
    if (!declared.has(name)) problems.push(`scripts/start.mjs: SETTINGS names ${name}, which no worker declares`);
  for (const name of declared.keys())
    if (!passed.has(name)) problems.push(`scripts/start.mjs: SETTINGS lacks ${name}, so .dev.vars cannot set it`);
  for (const [name, value] of Object.entries(start.devDefaults)) {
    const declaration = declared.get(name);
    if (declaration === undefined)
      problems.push(`scripts/start.mjs: DEV_DEFAULTS sets ${name}, which no worker declares`);
    else if (sameAsDefault(declaration, name, value)?.startsWith("is not valid"))
      problems.push(`scripts/start.mjs: DEV_DEFAULTS ${name} ${sameAsDefault(declaration, name, value)}`);
  }
  return problems;
}

const start = startLists();
const workers = (await declarations()).map(({ dir, declaration }) => {
  const { text, config } = wranglerConfig(dir);
  return { dir, declaration, config, overrides: overridden(text) };
});
const missing = workerDirs().filter((dir) => !workers.some((worker) => worker.dir === dir));
const generated = render(workers, start.devDefaults);

if (process.argv.includes("--check")) {
  const problems = [
    ...missing.map((dir) => `${dir}: no src/settings.ts declaring its settings`),
    ...drift(workers, start),
  ];
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== generated)
    problems.push("docs/configuration.md is out of date: run `npm run docs:config` and commit it");
  if (problems.length > 0) {
    for (const problem of problems) console.error(`docs:config: ${problem}`);
    process.exit(1);
  }
  const count = workers.reduce((sum, worker) => sum + Object.keys(worker.declaration.specs).length, 0);
  console.log(
    `docs:config: docs/configuration.md is current; ${count} settings in ${workers.length} workers agree with wrangler.jsonc and start.mjs`,
  );
} else {
  if (missing.length > 0) console.warn(`docs:config: no src/settings.ts in ${missing.join(", ")}`);
  writeFileSync(target, generated);
  console.log(`docs:config: wrote docs/configuration.md (${workers.length} workers)`);
}
