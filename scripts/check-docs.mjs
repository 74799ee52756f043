#!/usr/bin/env node
// Keeps the prose docs honest against the contract: every operation of docs/openapi.json is named
// in docs/api.md (as `METHOD /path`, with `:name` parameters), every route a table row of
// docs/api.md names is an operation, and every link to a heading (`file.md#anchor`, `#anchor`)
// between the repository's markdown files lands on a heading that exists. Run by .ci/run.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const METHODS = ["get", "post", "put", "delete", "patch"];

/** `METHOD /path` of every operation in the OpenAPI document, with `{name}` written `:name`. */
export function operationsOf(document) {
  const names = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      if (item[method]) names.push(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`);
    }
  }
  return names;
}

/** Routes named in the first cell of api.md's tables: `` | `GET /x`, `POST /x` | … ``. */
export function tableRoutesOf(markdown) {
  const routes = [];
  for (const line of markdown.split("\n")) {
    const cell = /^\|([^|]*)\|/.exec(line)?.[1] ?? "";
    for (const match of cell.matchAll(/`(GET|POST|PUT|DELETE|PATCH) (\/[^`\s]*)`/g))
      routes.push(`${match[1]} ${match[2]}`);
  }
  return routes;
}

/** GitHub's anchors for a markdown file's headings (duplicates get -1, -2, …). */
export function anchorsOf(markdown) {
  const anchors = new Set();
  const seen = new Map();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

function markdownFiles() {
  const files = ["README.md", "OPS.md"].map((name) => join(root, name)).filter((file) => existsSync(file));
  for (const name of readdirSync(join(root, "docs"))) if (name.endsWith(".md")) files.push(join(root, "docs", name));
  return files;
}

const problems = [];
const api = readFileSync(join(root, "docs/api.md"), "utf8");
const operations = operationsOf(JSON.parse(readFileSync(join(root, "docs/openapi.json"), "utf8")));
for (const operation of operations) {
  if (!api.includes(`\`${operation}\``)) problems.push(`docs/api.md does not name \`${operation}\``);
}
const known = new Set(operations);
for (const route of tableRoutesOf(api)) {
  if (!known.has(route)) problems.push(`docs/api.md lists \`${route}\`, which docs/openapi.json does not have`);
}

const anchorCache = new Map();
const anchorsFor = (file) => {
  if (!anchorCache.has(file)) anchorCache.set(file, anchorsOf(readFileSync(file, "utf8")));
  return anchorCache.get(file);
};
for (const file of markdownFiles()) {
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(/\]\(([^)\s]*?)#([^)\s]+)\)/g)) {
    const [, target, anchor] = match;
    if (/^[a-z]+:/i.test(target)) continue;
    const linked = target === "" ? file : resolve(dirname(file), target);
    // A file another change adds (or a path outside the docs) is not this check's business.
    if (!linked.endsWith(".md") || !existsSync(linked)) continue;
    if (!anchorsFor(linked).has(anchor)) problems.push(`${relative(root, file)}: no heading for ${target}#${anchor}`);
  }
}

if (problems.length > 0) {
  console.error(`docs: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join("\n")}`);
  process.exit(1);
}
console.log(`docs: docs/api.md names all ${operations.length} operations; every heading link resolves`);
