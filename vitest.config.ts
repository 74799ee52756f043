import { defineConfig } from "vitest/config";

// Every workspace is a project: `npm test` runs them all, each worker inside workerd.
export default defineConfig({
  test: {
    projects: ["shared", "gateway", "services/*"],
  },
});
