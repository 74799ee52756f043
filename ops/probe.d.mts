/** One probe check's outcome. */
export interface ProbeResult {
  name: string;
  ok: boolean;
  detail: string;
}
export function probe(
  base: string,
  options?: { origin?: string; ask?: boolean; voice?: boolean },
): Promise<ProbeResult[]>;
export function report(
  base: string,
  results: ProbeResult[],
  meta?: { at?: Date; commit?: string; options?: string },
): string;
export function proofName(base: string, at?: Date): string;
export function writeProof(dir: string, name: string, text: string): string;
