import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

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
  },
});
