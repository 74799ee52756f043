import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/** True for output that is only structured `info` log lines (shared/src/log.ts). */
function isInfoLogLine(log: string): boolean {
  const lines = log.split("\n").filter((line) => line.trim() !== "");
  return lines.length > 0 && lines.every((line) => line.startsWith('{"level":"info",'));
}

// Every workspace is a project: `npm test` runs them all, each worker inside workerd.
export default defineConfig({
  // pg loads its Workers socket with `require("pg-cloudflare")`, which picks the Workers build by the
  // `workerd` export condition. The pool resolves a CommonJS require through this root server, which
  // does not carry that condition and lands on the package's empty Node stub ("CloudflareSocket is
  // not a constructor"), so the Workers build is named directly.
  resolve: {
    alias: {
      "pg-cloudflare": fileURLToPath(new URL("./node_modules/pg-cloudflare/dist/index.js", import.meta.url)),
    },
  },
  test: {
    // services/scaffold/test-node runs rendered projects in their own workerd instances, from Node;
    // services/analytics/test-node runs the migration runner against the run's PostgreSQL;
    // ops/test runs the operator scripts against a fake gateway and temporary git repositories;
    // test-browser drives headless Chromium against the whole mesh.
    projects: [
      "shared",
      "gateway",
      "services/*",
      "services/scaffold/test-node",
      "services/analytics/test-node",
      "ops/test",
      "test-browser",
    ],
    // One PostgreSQL for the run, when a project of it uses one (test-support/database.ts).
    globalSetup: ["test-support/database.ts"],
    // The workers' info lines (the gateway's `request` line for each refused request, a cron run)
    // are for production's logs; a test run prints their warnings and errors only. Tests that check
    // a log line spy on console and see every level.
    onConsoleLog: (log) => !isInfoLogLine(log),
  },
});
