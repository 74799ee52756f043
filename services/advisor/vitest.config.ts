import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The advisor has no secrets and no storage: the tests run on the vars from wrangler.jsonc and
// override them per test where a threshold matters.
export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
    }),
  ],
  test: { name: "advisor", include: ["test/**/*.test.ts"] },
});
