// The vitest project of one worker: it runs in workerd from its own wrangler.jsonc, with the mesh
// workers it calls as auxiliary workers (built first by build-aux.ts, since they take bundled JS).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import type { Json, WorkerOptions } from "miniflare";
import { defineProject } from "vitest/config";
import { auxWorker, hyperdriveBindings } from "../scripts/aux-workers.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

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

/** Every Hyperdrive binding in `names` pointed at the run's PostgreSQL (none when it has none). */
function hyperdrives(names: string[], databaseUrl: string | undefined): Pick<WorkerOptions, "hyperdrives"> {
  if (names.length === 0 || databaseUrl === undefined) return {};
  return { hyperdrives: Object.fromEntries(names.map((name) => [name, databaseUrl])) };
}

export function workerProject(
  configUrl: string,
  name: string,
  options: {
    bindings?: Record<string, unknown>;
    aux?: AuxWorker[];
    miniflare?: Partial<WorkerOptions>;
    /** Values the project's tests read with vitest's `inject` (e.g. a fuzz seed from the shell). */
    provide?: Record<string, unknown>;
  } = {},
) {
  const here = (path: string) => fileURLToPath(new URL(path, configUrl));
  const aux = options.aux ?? [];
  const ownDatabase = hyperdriveBindings(here("./wrangler.jsonc"));
  const auxDatabase = aux.map((worker) => hyperdriveBindings(join(root, worker.dir, "wrangler.jsonc")));
  const usesDatabase = ownDatabase.length > 0 || auxDatabase.some((names) => names.length > 0);
  return defineProject({
    plugins: [
      // A function: Vitest calls it when the pool starts, after the global setups, so the run's
      // PostgreSQL (test-support/database.ts) is known by then; configs are evaluated before it exists.
      cloudflareTest(({ inject }) => {
        const databaseUrl = inject("databaseUrl");
        return {
          main: here("./src/index.ts"),
          wrangler: { configPath: here("./wrangler.jsonc") },
          remoteBindings: false,
          miniflare: {
            ...options.miniflare,
            ...hyperdrives(ownDatabase, databaseUrl),
            bindings: (options.bindings ?? {}) as Record<string, Json>,
            workers: aux.map((worker, index) =>
              auxWorker(worker.dir, worker.bindings, {
                ...worker.options,
                ...hyperdrives(auxDatabase[index] ?? [], databaseUrl),
              }),
            ),
          },
        };
      }),
    ],
    test: {
      name,
      include: ["test/**/*.test.ts"],
      // A test's limit is for a hang, not for a slow machine: on two busy cores a mesh round trip
      // can take seconds, and vitest's 5 s default failed correct tests there.
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...(aux.length > 0 ? { globalSetup: [fileURLToPath(new URL("./build-aux.ts", import.meta.url))] } : {}),
      provide: {
        ...options.provide,
        ...(aux.length > 0 ? { auxDirs: aux.map((worker) => worker.dir) } : {}),
        ...(usesDatabase ? { usesDatabase: true } : {}),
      },
    },
  });
}
