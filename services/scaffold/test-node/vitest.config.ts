import { defineProject } from "vitest/config";

// Node, not workerd: these tests render projects to disk, bundle them with wrangler and run each in
// its own Miniflare (workerd) instance, the way the generated project runs itself.
export default defineProject({
  test: {
    name: "scaffold-node",
    environment: "node",
    include: ["*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
