import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";

// The contracts have no bindings, but they run inside workers: test them in workerd too.
export default defineProject({
  plugins: [cloudflareTest({ remoteBindings: false, miniflare: { compatibilityDate: "2026-04-21" } })],
  // Generous limits: property tests run thousands of cases, and CI machines are busy.
  test: { name: "shared", include: ["test/**/*.test.ts"], testTimeout: 30_000 },
});
