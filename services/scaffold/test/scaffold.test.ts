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

  it("renders the same graph to the same archive again, under a new id", async () => {
    const first = await service().render(references, owner("guest:bob"), call);
    const second = await service().render(structuredClone(references), owner("guest:bob"), call);
    expect(second.id).not.toBe(first.id);
    expect(second.archive).toEqual(first.archive);
    expect(second.files).toEqual(first.files);
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
});
