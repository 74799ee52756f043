import { defineProject } from "vitest/config";

// Node, not workerd: the migration runner (scripts/migrate.mjs) against the run's real PostgreSQL.
export default defineProject({
  test: {
    name: "analytics-node",
    environment: "node",
    include: ["*.test.ts"],
    provide: { usesDatabase: true },
    testTimeout: 30_000,
  },
});
