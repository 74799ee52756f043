import { SCAFFOLD_ID, ServiceError, shortHash, uuidV7 } from "@cognomega/shared";

// Archives and records live under separate prefixes, so listing an owner's archives pages through
// archives alone: one object per scaffold, in id (creation) order.
const ARCHIVES = "scaffold/";
const RECORDS = "scaffold-record/";
const BY_GRAPH = "scaffold-by-graph/";

function ownerHash(sub: string): Promise<string> {
  return shortHash(`scaffold\n${sub}`);
}

/** The owner's archive prefix: a hash, so account names never appear in storage paths. */
export async function ownerPrefix(sub: string): Promise<string> {
  return `${ARCHIVES}${await ownerHash(sub)}/`;
}

/** Where one owner's scaffold keeps its zip and its record (manifest and graph, as JSON). */
export async function scaffoldKeys(sub: string, id: string): Promise<{ archive: string; record: string }> {
  const owner = await ownerHash(sub);
  return { archive: `${ARCHIVES}${owner}/${id}.zip`, record: `${RECORDS}${owner}/${id}.json` };
}

/**
 * Where an owner's scaffold of one graph is named (its id, as the object's body): a re-render of the
 * same graph finds it, so it is a no-op rather than a second copy.
 */
export async function graphIndexKey(sub: string, graphSha256: string): Promise<string> {
  return `${BY_GRAPH}${await ownerHash(sub)}/${graphSha256}`;
}

/** A new time-ordered id (UUID v7), so an owner's scaffolds list oldest first by key. */
export function scaffoldId(now = Date.now()): string {
  return uuidV7(now, crypto.getRandomValues(new Uint8Array(10)));
}

/** The id, refused with 400 unless it is exactly a scaffold id (it becomes part of a storage key). */
export function checkedId(id: unknown): string {
  if (typeof id === "string" && SCAFFOLD_ID.test(id)) return id;
  throw new ServiceError("invalid_input", "not a scaffold id", {
    issues: [{ path: "id", message: "a scaffold id is a lower-case UUID v7" }],
  });
}

/** When a scaffold was made: the millisecond time its UUID v7 carries. */
export function createdAt(id: string): string {
  return new Date(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toISOString();
}

/** The gateway path a scaffold's zip downloads from. */
export function downloadPath(id: string): string {
  return `/api/scaffold/${id}/download`;
}

/** The 404 for an id this owner has no scaffold under (another owner's id included). */
export function noSuchScaffold(): ServiceError {
  return new ServiceError("not_found", "no such scaffold");
}

/**
 * Refuses a new scaffold (403 `quota_exceeded`) when the owner already keeps `limit`. Rendering is
 * free, so this count is what bounds a tenant's storage (each archive is bounded by the 1 MiB graph).
 * Two renders racing past the check can each store one: the overshoot is bounded by concurrency.
 */
export async function checkQuota(bucket: R2Bucket, sub: string, limit: number): Promise<void> {
  const listed = await bucket.list({ prefix: await ownerPrefix(sub), limit });
  const used = listed.objects.length;
  if (used < limit) return;
  throw new ServiceError("quota_exceeded", `an account may keep at most ${limit} scaffolds; delete one first`, {
    quota: "scaffolds",
    limit,
    used,
  });
}
