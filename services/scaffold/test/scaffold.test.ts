import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type Identity, isServiceError, sha256Hex } from "@cognomega/shared";
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import references from "../samples/references.json";
import { ownerPrefix, ScaffoldService } from "../src/index";

const service = () => new ScaffoldService(createExecutionContext(), env);
const owner = (sub: string): Identity => ({ sub, source: "jwt", admin: false });
const call = { requestId: "req-scaffold-1" };

describe("ScaffoldService", () => {
  it("answers health", async () => {
    expect(await service().health()).toEqual({ service: "scaffold", ok: true });
  });

  it("stores the zip under the owner's prefix with owner, request id and both SHA-256s", async () => {
    const manifest = await service().render(references, owner("guest:alice"), call);
    expect(manifest).toMatchObject({
      name: "Plant Diary",
      entities: [
        { name: "Gardener", path: "/api/gardeners" },
        { name: "Garden", path: "/api/gardens" },
        { name: "Plant", path: "/api/plants" },
        { name: "WateringEvent", path: "/api/watering-events" },
      ],
    });
    expect(manifest.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const key = `${await ownerPrefix("guest:alice")}${manifest.id}.zip`;
    expect(key).not.toContain("alice");
    const object = await env.R2.get(key);
    expect(object).not.toBeNull();
    const bytes = new Uint8Array(await object!.arrayBuffer());
    expect(manifest.archive).toEqual({ bytes: bytes.byteLength, sha256: await sha256Hex(bytes) });
    expect(object!.httpMetadata).toMatchObject({
      contentType: "application/zip",
      contentDisposition: 'attachment; filename="plant-diary.zip"',
    });
    expect(object!.customMetadata).toMatchObject({
      owner: "guest:alice",
      request_id: "req-scaffold-1",
      archive_sha256: manifest.archive.sha256,
    });
    expect(object!.customMetadata?.graph_sha256).toMatch(/^[0-9a-f]{64}$/);

    const unzipped = unzipSync(bytes);
    for (const file of manifest.files) {
      const content = unzipped[`plant-diary/${file.path}`];
      expect(content?.byteLength, file.path).toBe(file.bytes);
      expect(await sha256Hex(content!)).toBe(file.sha256);
    }
    expect(Object.keys(unzipped)).toHaveLength(manifest.files.length);
  });

  it("answers a re-render of the same graph with the scaffold already stored: a no-op", async () => {
    const first = await service().render(references, owner("guest:bob"), call);
    const before = await env.R2.list({ prefix: await ownerPrefix("guest:bob") });
    const second = await service().render(structuredClone(references), owner("guest:bob"), call);
    expect(second).toEqual(first);
    expect((await env.R2.list({ prefix: await ownerPrefix("guest:bob") })).objects).toHaveLength(before.objects.length);
    // Another owner's render of the same graph is its own.
    const theirs = await service().render(references, owner("guest:bob-2"), call);
    expect(theirs.id).not.toBe(first.id);
    expect(theirs.archive).toEqual(first.archive);
  });

  it("keeps owners apart: each owner's renders live under its own prefix", async () => {
    const [a, b] = [await ownerPrefix("guest:a"), await ownerPrefix("guest:b")];
    expect(a).not.toBe(b);
    const manifest = await service().render(references, owner("guest:a"), call);
    expect(await env.R2.head(`${b}${manifest.id}.zip`)).toBeNull();
    expect(await env.R2.head(`${a}${manifest.id}.zip`)).not.toBeNull();
  });

  it("refuses an invalid graph with invalid_input and every issue's path, storing nothing", async () => {
    const broken = structuredClone(references) as { entities: { fields: { ref?: string }[] }[] };
    broken.entities[2]!.fields[1]!.ref = "Pot";
    const before = await env.R2.list({ prefix: await ownerPrefix("guest:carol") });
    const error = await service()
      .render(broken, owner("guest:carol"), call)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceError(error) && error.code).toBe("invalid_input");
    expect((error as { details: { issues: { path: string }[] } }).details.issues).toEqual([
      { path: "entities[2].fields[1].ref", message: 'unknown entity "Pot"' },
    ]);
    const after = await env.R2.list({ prefix: await ownerPrefix("guest:carol") });
    expect(after.objects).toHaveLength(before.objects.length);
  });

  it("renders under a given id again in place (a retried job), and keeps the record beside the zip", async () => {
    const id = "01a23189-fde9-7837-99ec-0e11966327a7";
    const first = await service().render(references, owner("guest:dave"), call, { id });
    const again = await service().render(references, owner("guest:dave"), call, { id });
    expect([first.id, again.id]).toEqual([id, id]);
    expect(again.archive).toEqual(first.archive);
    const page = await service().list(owner("guest:dave"), {}, call);
    expect(page.scaffolds.map((s) => s.id)).toEqual([id]);
    const record = await service().get(owner("guest:dave"), id, call);
    expect(record).toMatchObject({ ...first, graph: references, created_at: expect.stringMatching(/^2026-/) });
  });

  it("refuses a malformed id before building a key, and a foreign id is not found", async () => {
    for (const bad of [
      "../x",
      "01A23189-FDE9-7837-99EC-0E11966327A7",
      `${"0".repeat(8)}-0000-4000-8000-${"0".repeat(12)}`,
    ]) {
      const error = await service()
        .get(owner("guest:erin"), bad, call)
        .catch((e: unknown) => e);
      expect(isServiceError(error) && error.code, bad).toBe("invalid_input");
    }
    const mine = await service().render(references, owner("guest:erin"), call);
    const error = await service()
      .download(owner("guest:frank"), mine.id, call)
      .catch((e: unknown) => e);
    expect(isServiceError(error) && error.code).toBe("not_found");
  });

  it("keeps at most SCAFFOLD_QUOTA_COUNT scaffolds per owner (403 quota_exceeded), a retried job's re-render included", async () => {
    const limited = () => new ScaffoldService(createExecutionContext(), { ...env, SCAFFOLD_QUOTA_COUNT: "2" });
    const alice = owner("guest:quota-alice");
    const first = await limited().render(references, alice, call);
    await limited().render(references, alice, call, { id: "01a23189-fde9-7837-99ec-0e11966327a8" });
    const error = await limited()
      .render({ ...references, name: "Another app" }, alice, call)
      .catch((e: unknown) => e);
    expect(isServiceError(error) && error.code).toBe("quota_exceeded");
    expect((error as { details: unknown }).details).toMatchObject({ quota: "scaffolds", limit: 2, used: 2 });
    expect((await env.R2.list({ prefix: await ownerPrefix("guest:quota-alice") })).objects).toHaveLength(2);
    // Replacing one of its own in place (a retried job) stores nothing new, so it is not refused.
    const again = await limited().render(references, alice, call, { id: "01a23189-fde9-7837-99ec-0e11966327a8" });
    expect(again.id).toBe("01a23189-fde9-7837-99ec-0e11966327a8");
    // Another owner has a quota of its own, and a deletion makes room again.
    await limited().render(references, owner("guest:quota-bob"), call);
    await limited().remove(alice, first.id, call);
    await limited().render({ ...references, name: "Another app" }, alice, call);
  });
});
