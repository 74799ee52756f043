#!/usr/bin/env node
// `npm run audit:routes`: only the gateway may be reachable from the internet. Every internal
// worker must be reached through a service binding, so none may claim a route or keep a
// workers.dev / preview URL, and every worker needs the compatibility date at which errors keep
// `name` and `code` across RPC.
//
// The configs are read raw rather than through wrangler's unstable_readConfig: that one resolves a
// single environment and fills in defaults, so it can tell neither what an env.<name> block
// declares nor whether `workers_dev: false` was written or merely defaulted.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { root as repoRoot } from "./workers.mjs";

const GATEWAY = "gateway";
const GATEWAY_ROUTE = "api.cognomega.com/*";
const MIN_COMPATIBILITY_DATE = "2026-04-21";

/** JSONC to JSON: drops comments and trailing commas, leaving strings (URLs contain "//") intact. */
export function stripJsonc(text) {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      out += text.slice(start, i + 1);
    } else if (text.startsWith("//", i)) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      if (end === -1) throw new SyntaxError("unterminated /* comment");
      i = end + 1;
      out += " ";
    } else {
      out += text[i];
    }
  }
  // Strings are matched first so a comma inside one is never taken for a trailing comma.
  return out.replace(/"(?:\\.|[^"\\])*"|,(\s*[}\]])/g, (match, closer) => closer ?? match);
}

// workers.mjs's workerDirs() is bound to this repository; a test audits a fixture tree instead.
function workerDirsUnder(root) {
  const services = existsSync(join(root, "services")) ? readdirSync(join(root, "services")).sort() : [];
  return [GATEWAY, ...services.map((name) => `services/${name}`)].filter((dir) =>
    existsSync(join(root, dir, "wrangler.jsonc")),
  );
}

function routePatterns(config) {
  const routes = [config.route, config.routes].flat().filter((route) => route !== undefined);
  return routes.map((route) => (typeof route === "string" ? route : route?.pattern));
}

/** Every ownership problem in the workers' configs under `root`; empty when all is well. */
export function auditRoutes(root = repoRoot) {
  const problems = [];
  const dirs = workerDirsUnder(root);
  if (!dirs.includes(GATEWAY)) problems.push(`${GATEWAY}/wrangler.jsonc: missing`);
  for (const dir of dirs) {
    const file = `${dir}/wrangler.jsonc`;
    let config;
    try {
      config = JSON.parse(stripJsonc(readFileSync(join(root, file), "utf8")));
    } catch (error) {
      problems.push(`${file}: cannot be read (${error.message})`);
      continue;
    }
    // Route and URL settings are per environment in wrangler, so each env block is a deployment too.
    const scopes = [["", config], ...Object.entries(config.env ?? {}).map(([name, env]) => [`env.${name}.`, env])];
    const internal = dir !== GATEWAY;

    for (const [prefix, scope] of scopes) {
      for (const key of ["route", "routes"]) {
        if (internal && scope[key] !== undefined) {
          problems.push(`${file}: ${prefix}${key} is declared, but only the gateway may own routes`);
        }
      }
      if (internal) {
        for (const key of ["workers_dev", "preview_urls"]) {
          // Top level must say false outright (the defaults publish a URL); an env may only repeat it.
          if (scope[key] !== false && (prefix === "" || key in scope)) {
            problems.push(
              `${file}: ${prefix}${key} must be false (is ${key in scope ? JSON.stringify(scope[key]) : "unset"})`,
            );
          }
        }
      }
      const date = scope.compatibility_date;
      const valid = typeof date === "string" && /^\d{4}-\d{2}-\d{2}$/.test(date) && date >= MIN_COMPATIBILITY_DATE;
      if ((prefix === "" || date !== undefined) && !valid) {
        problems.push(
          `${file}: ${prefix}compatibility_date must be ${MIN_COMPATIBILITY_DATE} or later (is ${JSON.stringify(date)})`,
        );
      }
    }
    if (!internal && !routePatterns(config).includes(GATEWAY_ROUTE)) {
      problems.push(`${file}: the gateway does not declare the route ${GATEWAY_ROUTE}`);
    }
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const problems = auditRoutes();
  if (problems.length > 0) {
    console.error(
      `route audit: ${problems.length} problem(s)\n${problems.map((problem) => `  - ${problem}`).join("\n")}`,
    );
    process.exit(1);
  }
  console.log(`route audit: ok (${workerDirsUnder(repoRoot).length} workers)`);
}
