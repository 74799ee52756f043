import { defineProject } from "vitest/config";

// Node, not workerd: drives headless Chromium against the whole mesh running in Miniflare.
export default defineProject({
  test: {
    name: "browser",
    environment: "node",
    include: ["*.test.ts"],
    globalSetup: ["./build.ts"],
    // Wrangler warns, per worker, that AI and Vectorize bindings have no local mode: known, and
    // those bindings are dropped (the services see them as not configured).
    env: { WRANGLER_LOG: "error" },
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
