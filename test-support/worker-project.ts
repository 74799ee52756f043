// The vitest project of one worker: it runs in workerd from its own wrangler.jsonc, with the mesh
// workers it calls as auxiliary workers (built first by build-aux.ts, since they take bundled JS).
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import type { Json, WorkerOptions } from "miniflare";
import { defineProject } from "vitest/config";
import { auxWorker } from "../scripts/aux-workers.mjs";

declare module "vitest" {
  interface ProvidedContext {
    /** Worker directories the project's tests call, for build-aux.ts to bundle. */
    auxDirs: string[];
  }
}

/** A mesh worker a project's tests call, with test bindings and Miniflare options. */
export interface AuxWorker {
  dir: string;
  bindings?: Record<string, unknown>;
  options?: Partial<WorkerOptions>;
}

export function workerProject(
  configUrl: string,
  name: string,
  options: { bindings?: Record<string, unknown>; aux?: AuxWorker[]; miniflare?: Partial<WorkerOptions> } = {},
) {
  const here = (path: string) => fileURLToPath(new URL(path, configUrl));
  const aux = options.aux ?? [];
  return defineProject({
    plugins: [
      cloudflareTest({
        main: here("./src/index.ts"),
        wrangler: { configPath: here("./wrangler.jsonc") },
        remoteBindings: false,
        miniflare: {
          ...options.miniflare,
          bindings: (options.bindings ?? {}) as Record<string, Json>,
          workers: aux.map((worker) => auxWorker(worker.dir, worker.bindings, worker.options)),
        },
      }),
    ],
    test: {
      name,
      include: ["test/**/*.test.ts"],
      ...(aux.length > 0
        ? {
            globalSetup: [fileURLToPath(new URL("./build-aux.ts", import.meta.url))],
            provide: { auxDirs: aux.map((worker) => worker.dir) },
          }
        : {}),
    },
  });
}
