import type { WorkerOptions } from "miniflare";

/** Miniflare worker options for the mesh worker in `dir`, run from its dist/ build. */
export function auxWorker(
  dir: string,
  bindings?: Record<string, unknown>,
  extra?: Partial<WorkerOptions>,
): WorkerOptions & { name: string };

/** Names of the Hyperdrive bindings (PostgreSQL) in the wrangler config at `configPath`. */
export function hyperdriveBindings(configPath: string): string[];

/** Options for every mesh worker not in `configured` (directories such as "services/billing"). */
export function restOfMesh(configured: readonly string[]): (WorkerOptions & { name: string })[];
