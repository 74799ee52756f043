/** A running embedded PostgreSQL (scripts/postgres.mjs). */
export interface RunningPostgres {
  /** Connection string of the `cognomega` database, migrated. */
  url: string;
  port: number;
  dataDir: string;
  /** Migrations this start applied. */
  applied: string[];
  /** Stops the server (and, for a temporary one, deletes its data). */
  stop(): Promise<void>;
}

export function freePort(): Promise<number>;
export function localConnectionString(port: number): string;
export function startPostgres(options?: { dataDir?: string; log?: (line: string) => void }): Promise<RunningPostgres>;
