import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Identity } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { codeOf } from "../../../test-support/failure";
import { UploadsService } from "../src/index";
import { sanitizeFilename } from "../src/names";

const call = { requestId: "uploads-test-request" };
const alice: Identity = { sub: "guest:alice", source: "jwt", admin: false };
const bob: Identity = { sub: "guest:bob", source: "jwt", admin: false };

function uploads(): UploadsService {
  return new UploadsService(createExecutionContext(), env);
}

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const chunks = parts.map((p) => encoder.encode(p));
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

const meta = (contentLength: string | null, contentType = "text/plain", filename: string | null = "notes.txt") => ({
  contentLength,
  contentType,
  filename,
  route: "/api/upload/direct",
});

async function objectCount(): Promise<number> {
  return (await env.R2_UPLOADS.list()).objects.length;
}

describe("direct uploads", () => {
  it("streams a body into R2 with its hash and metadata", async () => {
    const text = "hello, uploads";
    const view = await uploads().upload(
      streamOf("hello, ", "uploads"),
      meta(String(text.length), "text/plain; charset=utf-8", "My Notes.txt"),
      alice,
      call,
    );
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    expect(view).toMatchObject({ size: 14, content_type: "text/plain", sha256: expected, filename: "My Notes.txt" });
    expect(view.key).toMatch(/^uploads\/[0-9a-f]{32}\/[0-9a-f-]{36}$/);
    const stored = await env.R2_UPLOADS.head(view.key);
    expect(stored?.customMetadata).toEqual({
      uploader: "guest:alice",
      route: "/api/upload/direct",
      request_id: call.requestId,
      filename: "My Notes.txt",
      sha256: expected,
    });
    expect(stored?.httpMetadata?.contentType).toBe("text/plain");
    // No staging copy is left behind.
    expect((await env.R2_UPLOADS.list({ prefix: "staging/" })).objects).toEqual([]);
  });

  it("refuses a body shorter or longer than its Content-Length, keeping nothing", async () => {
    const before = await objectCount();
    expect(await codeOf(uploads().upload(streamOf("12345"), meta("10"), alice, call))).toBe("invalid_input");
    expect(await codeOf(uploads().upload(streamOf("1234567890", "abc"), meta("10"), alice, call))).toBe(
      "invalid_input",
    );
    expect(await objectCount()).toBe(before);
  });

  it("requires a Content-Length, bounds it, and refuses before reading", async () => {
    let pulled = 0;
    const watched = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    expect(await codeOf(uploads().upload(streamOf("x"), meta(null), alice, call))).toBe("length_required");
    expect(await codeOf(uploads().upload(watched, meta(String(10 * 1024 * 1024)), alice, call))).toBe(
      "payload_too_large",
    );
    expect(pulled).toBeLessThanOrEqual(1);
    expect(await codeOf(uploads().upload(streamOf("x"), meta("-1"), alice, call))).toBe("invalid_input");
    expect(await codeOf(uploads().upload(streamOf(""), meta("0"), alice, call))).toBe("invalid_input");
  });

  it("accepts only allowed content types", async () => {
    for (const type of ["application/x-msdownload", "application/octet-stream", "", "text/plain-ish"]) {
      expect(await codeOf(uploads().upload(streamOf("MZ"), meta("2", type), alice, call)), type).toBe(
        "unsupported_media_type",
      );
    }
  });

  it("never lets a filename become a path", () => {
    expect(sanitizeFilename("../../etc/passwd")).toBe("passwd");
    expect(sanitizeFilename("..\\..\\windows\\system32.dll")).toBe("system32.dll");
    expect(sanitizeFilename("....")).toBe("upload");
    expect(sanitizeFilename('a"b\r\nc;d.txt')).toBe("a_b_c_d.txt");
    expect(sanitizeFilename("résumé 2026.pdf")).toBe("résumé 2026.pdf");
    expect(sanitizeFilename(`${"x".repeat(500)}.txt`)).toMatch(/^x{196}\.txt$/);
    expect(sanitizeFilename(null)).toBe("upload");
  });

  it("stores a traversal filename under a generated key", async () => {
    const view = await uploads().upload(streamOf("data"), meta("4", "text/plain", "../../../secrets.txt"), alice, call);
    expect(view.filename).toBe("secrets.txt");
    expect(view.key).not.toContain("..");
    expect(view.key).not.toContain("secrets");
  });
});

describe("an owner's uploads", () => {
  it("lists, downloads and deletes only the owner's objects", async () => {
    const a = await uploads().upload(streamOf("alice's"), meta("7"), alice, call);
    const b = await uploads().upload(streamOf("bob's"), meta("5"), bob, call);
    const mine = await uploads().list(alice, {}, call);
    expect(mine.uploads.map((u) => u.key)).toContain(a.key);
    expect(mine.uploads.map((u) => u.key)).not.toContain(b.key);
    expect(await codeOf(uploads().download(alice, b.key, call))).toBe("not_found");
    expect(await codeOf(uploads().remove(alice, b.key, call))).toBe("not_found");
    const id = b.key.split("/").at(-1) as string;
    expect(await codeOf(uploads().download(alice, id, call))).toBe("not_found");
    const download = await uploads().download(bob, id, call);
    expect(await new Response(download.body).text()).toBe("bob's");
    expect(download.headers).toMatchObject({ "X-Content-Type-Options": "nosniff", "Content-Type": "text/plain" });
    expect(download.headers["Content-Disposition"]).toMatch(/^inline;/);
    await uploads().remove(bob, b.key, call);
    expect(await env.R2_UPLOADS.head(b.key)).toBeNull();
    expect(await codeOf(uploads().remove(bob, b.key, call))).toBe("not_found");
  });

  it("downloads renderable types as attachments", async () => {
    for (const type of ["text/html", "image/svg+xml", "application/xml"]) {
      const view = await uploads().upload(streamOf("<x/>"), meta("4", type, "page.html"), alice, call);
      const download = await uploads().download(alice, view.key, call);
      await download.body.cancel();
      expect(download.headers["Content-Disposition"], type).toMatch(/^attachment; filename="page.html"/);
    }
  });

  it("pages the listing", async () => {
    const carol: Identity = { sub: "guest:carol", source: "jwt", admin: false };
    for (let i = 0; i < 3; i++) await uploads().upload(streamOf(`n${i}`), meta("2"), carol, call);
    const first = await uploads().list(carol, { limit: "2" }, call);
    expect(first.uploads).toHaveLength(2);
    const rest = await uploads().list(carol, { limit: "2", cursor: first.cursor as string }, call);
    expect(rest).toMatchObject({ uploads: [expect.anything()], cursor: null });
    expect(await codeOf(uploads().list(carol, { limit: "0" }, call))).toBe("invalid_input");
  });
});
