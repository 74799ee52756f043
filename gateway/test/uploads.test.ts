import { describe, expect, it } from "vitest";
import { expectProblem, gateway, guestToken } from "./helpers";

function upload(token: string, body: BodyInit, headers: Record<string, string> = {}, query = ""): Promise<Response> {
  return gateway(`/api/upload/direct${query}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/plain", ...headers },
    body,
  });
}

describe("uploads through the gateway", () => {
  it("uploads, lists, downloads and deletes the caller's own file", async () => {
    const { token } = await guestToken();
    const response = await upload(token, "hello from the gateway", { "X-File-Name": encodeURIComponent("résumé.txt") });
    expect(response.status).toBe(201);
    const stored = (await response.json()) as {
      key: string;
      size: number;
      sha256: string;
      filename: string;
      content_type: string;
    };
    expect(stored).toMatchObject({ size: 22, filename: "résumé.txt", content_type: "text/plain" });
    expect(stored.sha256).toMatch(/^[0-9a-f]{64}$/);

    const listed = (await (
      await gateway("/api/uploads", { headers: { Authorization: `Bearer ${token}` } })
    ).json()) as { uploads: { key: string }[] };
    expect(listed.uploads.map((u) => u.key)).toEqual([stored.key]);

    const download = await gateway(`/api/uploads/${encodeURIComponent(stored.key)}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(await download.text()).toBe("hello from the gateway");
    expect(download.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(download.headers.get("Content-Disposition")).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9.txt");

    const stranger = await guestToken();
    await expectProblem(
      await gateway(`/api/uploads/${encodeURIComponent(stored.key)}`, {
        headers: { Authorization: `Bearer ${stranger.token}` },
      }),
      404,
      "not_found",
    );
    await expectProblem(
      await gateway(`/api/uploads/${encodeURIComponent(stored.key)}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${stranger.token}` },
      }),
      404,
      "not_found",
    );

    const deleted = await gateway(`/api/uploads/${encodeURIComponent(stored.key)}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(await deleted.json()).toEqual({ deleted: stored.key });
    await expectProblem(
      await gateway(`/api/uploads/${encodeURIComponent(stored.key)}`, {
        headers: { Authorization: `Bearer ${token}` },
      }),
      404,
      "not_found",
    );
  });

  it("takes the name from ?filename= and never uses it as a path", async () => {
    const { token } = await guestToken();
    const stored = (await (await upload(token, "x", {}, "?filename=..%2F..%2Fetc%2Fpasswd")).json()) as {
      key: string;
      filename: string;
    };
    expect(stored.filename).toBe("passwd");
    expect(stored.key).toMatch(/^uploads\/[0-9a-f]{32}\/[0-9a-f-]{36}$/);
  });

  it("411s a body without Content-Length, 413s one over the limit, 415s a refused type", async () => {
    const { token } = await guestToken();
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("streamed without a length"));
        controller.close();
      },
    });
    await expectProblem(await upload(token, chunked), 411, "length_required");
    await expectProblem(await upload(token, new Uint8Array(300_000)), 413, "payload_too_large");
    await expectProblem(
      await upload(token, "MZ", { "Content-Type": "application/x-msdownload" }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(await gateway("/api/upload/direct", { method: "POST", body: "x" }), 401, "unauthenticated");
    const listed = (await (
      await gateway("/api/uploads", { headers: { Authorization: `Bearer ${token}` } })
    ).json()) as { uploads: unknown[] };
    expect(listed.uploads).toEqual([]);
  });

  it("403s quota_exceeded past the tenant's upload count or bytes, and a delete frees room", async () => {
    const { token } = await guestToken();
    const keys: string[] = [];
    for (const text of ["one", "two", "three"]) {
      const response = await upload(token, text);
      expect(response.status).toBe(201);
      keys.push(((await response.json()) as { key: string }).key);
    }
    const over = await expectProblem(await upload(token, "four"), 403, "quota_exceeded");
    expect(over).toMatchObject({ quota: "upload_files", limit: 3, used: 3, requested: 1 });
    await gateway(`/api/uploads/${encodeURIComponent(keys[0] as string)}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
    });
    expect((await upload(token, "four")).status).toBe(201);

    const other = await guestToken();
    expect((await upload(other.token, new Uint8Array(250_000))).status).toBe(201);
    const bytes = await expectProblem(await upload(other.token, new Uint8Array(200_000)), 403, "quota_exceeded");
    expect(bytes).toMatchObject({ quota: "upload_bytes", limit: 400_000, used: 250_000, requested: 200_000 });
    const listed = (await (
      await gateway("/api/uploads", { headers: { Authorization: `Bearer ${other.token}` } })
    ).json()) as { uploads: unknown[] };
    expect(listed.uploads).toHaveLength(1);
  });
});
