import { defineConfig } from "vitest/config";

// Every workspace is a project: `npm test` runs them all, each worker inside workerd.
export default defineConfig({
  test: {
    // services/scaffold/test-node runs rendered projects in their own workerd instances, from Node.
    projects: ["shared", "gateway", "services/*", "services/scaffold/test-node", "test-browser"],
  },
});
