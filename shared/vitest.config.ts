import { defineProject } from "vitest/config";

// The contracts are plain TypeScript with no bindings: they are tested in Node.
export default defineProject({
  test: { name: "shared", include: ["test/**/*.test.ts"] },
});
