/** The repository root, without a trailing slash. */
export const root: string;

/** Directories (relative to the root) of every worker, gateway first. */
export function workerDirs(): string[];
