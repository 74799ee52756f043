/** Paths whose change needs an OPS.md update or a new proof. */
export const GUARDED: RegExp[];
export function checkOpsProof(options?: { cwd?: string; base?: string }): {
  ok: boolean;
  reason: string;
  guarded: string[];
};
