import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { failure } from "../../../test-support/failure";
import { UploadsService } from "../src/index";

const call = { requestId: "uploads-quota-test" };
const tenant = (): Identity => ({ sub: `guest:quota-${crypto.randomUUID()}`, source: "jwt", admin: false });

/** The service with a tenant quota of `bytes` and `files`. */
function uploads(bytes: number, files: number): UploadsService {
  return new UploadsService(createExecutionContext(), {
    ...env,
    UPLOAD_QUOTA_BYTES: String(bytes),
    UPLOAD_QUOTA_FILES: String(files),
  });
}

const put = (service: UploadsService, identity: Identity, text: string, declared = text.length) =>
  service.upload(
    new Blob([text]).stream(),
    { contentLength: String(declared), contentType: "text/plain", filename: "a.txt", route: "test" },
    identity,
    call,
  );

async function objectsOf(service: UploadsService, identity: Identity): Promise<number> {
  return (await service.list(identity, {}, call)).uploads.length;
}

describe("per-tenant upload quotas", () => {
  it("refuses an upload that would pass the byte quota, keeping nothing of it", async () => {
    const user = tenant();
    const service = uploads(100, 10);
    await put(service, user, "a".repeat(60));
    expect(await failure(put(service, user, "b".repeat(50)))).toEqual({
      code: "quota_exceeded",
      details: { quota: "upload_bytes", limit: 100, used: 60, requested: 50 },
    });
    expect(await objectsOf(service, user)).toBe(1);
    expect((await env.R2_UPLOADS.list({ prefix: "staging/" })).objects).toEqual([]);
    // Exactly up to the quota is fine; another tenant has its own.
    await put(service, user, "c".repeat(40));
    await put(service, tenant(), "d".repeat(100));
  });

  it("refuses an upload past the file-count quota", async () => {
    const user = tenant();
    const service = uploads(1_000_000, 2);
    await put(service, user, "one");
    await put(service, user, "two");
    expect(await failure(put(service, user, "three"))).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "upload_files", limit: 2, used: 2 },
    });
    expect(await objectsOf(service, user)).toBe(2);
  });

  it("cannot be passed by concurrent uploads", async () => {
    const user = tenant();
    const service = uploads(100, 100);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => failure(put(service, user, `${i}`.repeat(30)))),
    );
    expect(results.filter((r) => r.code === "ok")).toHaveLength(3);
    expect(results.filter((r) => r.code === "quota_exceeded")).toHaveLength(5);
    expect(await objectsOf(service, user)).toBe(3);
  });

  it("frees quota on delete and when an upload fails", async () => {
    const user = tenant();
    const service = uploads(1_000_000, 1);
    // A body shorter than declared fails and its reservation is released.
    expect((await failure(put(service, user, "short", 10))).code).toBe("invalid_input");
    const stored = await put(service, user, "kept");
    expect((await failure(put(service, user, "more"))).code).toBe("quota_exceeded");
    await service.remove(user, stored.key, call);
    await put(service, user, "after the delete");
    expect(await objectsOf(service, user)).toBe(1);
  });
});
