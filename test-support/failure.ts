/**
 * What a promise failed with, as a ServiceError crosses RPC: its `code` and `details` (`ok` when
 * it resolved), so tests compare outcomes by code, never by class.
 */
export async function failure(promise: Promise<unknown>): Promise<{ code: string; details?: Record<string, unknown> }> {
  try {
    await promise;
    return { code: "ok" };
  } catch (error) {
    const { code, details } = error as { code?: string; details?: Record<string, unknown> };
    return { code: code ?? String(error), ...(details ? { details } : {}) };
  }
}

/** The code a promise failed with (`ok` when it resolved). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return (await failure(promise)).code;
}
