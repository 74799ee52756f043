import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { auxWorker } from "../../scripts/aux-workers.mjs";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Retrieval runs against the real uploads worker; embeddings and Vectorize are test doubles at the
// edge (neither has a local mode).
export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("./src/index.ts"),
      wrangler: { configPath: here("./wrangler.jsonc") },
      remoteBindings: false,
      miniflare: { workers: [auxWorker("services/uploads")] },
    }),
  ],
  test: { name: "rag", include: ["test/**/*.test.ts"], globalSetup: ["./test/global-setup.ts"] },
});
