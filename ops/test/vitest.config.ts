import { defineProject } from "vitest/config";

// Node, not workerd: the operator scripts (ops/probe.mjs, scripts/check-ops-proof.mjs) against a
// small HTTP server and temporary git repositories.
export default defineProject({
  test: {
    name: "ops-node",
    environment: "node",
    include: ["*.test.ts"],
    testTimeout: 30_000,
  },
});
