/** The directory of the migration files (ops/sql). */
export const MIGRATIONS_DIR: string;
export function migrationFiles(dir?: string): { name: string; sql: string; checksum: string }[];
export function migrate(
  connectionString: string,
  options?: { dir?: string; log?: (line: string) => void },
): Promise<string[]>;
export function redacted(connectionString: string): string;
