import {
  type CallContext,
  type Identity,
  ServiceError,
  toHex,
  type UploadRequestMeta,
  type UploadView,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import { contentDisposition, ownerPrefix, sanitizeFilename, uuidv7 } from "./names";
import type { UploadLimits } from "./quota";
import { UPLOADS_SETTINGS } from "./settings";

// Types a browser would render or run: always downloaded, never shown inline.
const RENDERABLE = new Set(["text/html", "image/svg+xml", "application/xml", "text/xml", "application/xhtml+xml"]);

function settings(env: UploadsEnv): { maxBytes: number; allowed: ReadonlySet<string>; quota: UploadLimits } {
  const read = UPLOADS_SETTINGS.read(env);
  return {
    maxBytes: read.UPLOAD_MAX_BYTES,
    allowed: allowedTypes(read.UPLOAD_ALLOWED_TYPES),
    quota: { bytes: read.UPLOAD_QUOTA_BYTES, files: read.UPLOAD_QUOTA_FILES },
  };
}

// The allow-list as a set, built once per list read (the settings object is reused while unchanged).
const allowedSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function allowedTypes(list: readonly string[]): ReadonlySet<string> {
  let set = allowedSets.get(list);
  if (set === undefined) {
    set = new Set(list);
    allowedSets.set(list, set);
  }
  return set;
}

function viewOf(object: R2Object): UploadView {
  const meta = object.customMetadata ?? {};
  return {
    key: object.key,
    size: object.size,
    content_type: object.httpMetadata?.contentType ?? "application/octet-stream",
    sha256: meta.sha256 ?? "",
    filename: meta.filename ?? "upload",
    uploaded_at: object.uploaded.toISOString(),
  };
}

/**
 * Direct uploads into R2, streamed: the body never sits in memory. Keys are generated per owner
 * (`uploads/<owner-hash>/<uuid>`), so names never become paths and one owner can never reach
 * another's objects.
 */
export class UploadsService extends MeshEntrypoint<UploadsEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "uploads"; ok: true }> {
    return { service: "uploads", ok: true };
  }

  private quota(identity: Identity) {
    return this.env.UPLOAD_QUOTA.get(this.env.UPLOAD_QUOTA.idFromName(identity.sub));
  }

  /**
   * Stores `body`. `Content-Length` is required (411) and bounded (413, refused before a byte is
   * read); the type must be on the allow-list (415); a body longer or shorter than declared is
   * refused and nothing is kept. The tenant's quota (bytes and files) is reserved at the declared
   * size before the body is read (403 `quota_exceeded` over it) and released if the upload fails.
   * The object gets its SHA-256, uploader, route, request id and original name as custom metadata.
   */
  async upload(
    body: ReadableStream<Uint8Array> | null,
    meta: UploadRequestMeta,
    identity: Identity,
    call: CallContext,
  ): Promise<UploadView> {
    const { maxBytes, allowed, quota } = settings(this.env);
    const refuse = async (error: ServiceError): Promise<never> => {
      await body?.cancel().catch(() => {});
      throw error;
    };
    if (meta.contentLength === null)
      return refuse(new ServiceError("length_required", "Content-Length is required for uploads"));
    const declared = Number(meta.contentLength);
    if (!/^\d{1,15}$/.test(meta.contentLength) || !Number.isSafeInteger(declared))
      return refuse(new ServiceError("invalid_input", "Content-Length is not a byte count"));
    if (declared > maxBytes)
      return refuse(
        new ServiceError("payload_too_large", `uploads are at most ${maxBytes} bytes`, { limit: maxBytes }),
      );
    if (declared === 0 || !body) return refuse(new ServiceError("invalid_input", "the upload is empty"));
    const type = (meta.contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!allowed.has(type)) {
      return refuse(
        new ServiceError(
          "unsupported_media_type",
          `content type ${type || "(none)"} is not accepted; accepted: ${[...allowed].join(", ")}`,
        ),
      );
    }
    const filename = sanitizeFilename(meta.filename);
    const id = uuidv7();
    const key = `${await ownerPrefix(identity.sub)}${id}`;
    const staging = `staging/${id}`;
    const tenantQuota = this.quota(identity);
    const reserved = await tenantQuota.reserve(id, declared, quota, Date.now()).catch(async (error: unknown) => {
      await body.cancel().catch(() => {});
      throw error;
    });
    if (!reserved.ok) {
      const { quota: which, limit, used, requested } = reserved;
      return refuse(
        new ServiceError(
          "quota_exceeded",
          which === "upload_files"
            ? `a tenant may keep at most ${limit} uploads; delete one first`
            : `a tenant may keep at most ${limit} bytes of uploads; ${used} are taken and this one is ${requested}`,
          { quota: which, limit, used, requested },
        ),
      );
    }
    try {
      const view = await this.store(body, declared, type, filename, key, staging, meta, identity, call);
      try {
        await tenantQuota.commit(id, key, declared);
      } catch (error) {
        // An object the quota does not count must not stay.
        await this.env.R2_UPLOADS.delete(key);
        throw error;
      }
      return view;
    } catch (error) {
      // Should the release fail too, the reservation stops counting after RESERVATION_TTL_MS.
      await tenantQuota.release(id).catch(() => {});
      throw error;
    }
  }

  /** Streams the body into R2 under `key`, through a staging object; nothing is kept on failure. */
  private async store(
    body: ReadableStream<Uint8Array>,
    declared: number,
    type: string,
    filename: string,
    key: string,
    staging: string,
    meta: UploadRequestMeta,
    identity: Identity,
    call: CallContext,
  ): Promise<UploadView> {
    // Pass 1: stream into a staging object while hashing. R2 needs a known length, and the hash
    // is only known at the end, while custom metadata must be set when the object is written.
    // One explicit pump keeps backpressure and every failure in one place.
    const fixed = new FixedLengthStream(declared);
    const digest = new crypto.DigestStream("SHA-256");
    const store = fixed.writable.getWriter();
    const hash = digest.getWriter();
    const storing = this.env.R2_UPLOADS.put(staging, fixed.readable);
    // Rejections these would report on a failed upload are handled below, not left dangling.
    for (const promise of [storing, digest.digest, store.closed, hash.closed]) promise.catch(() => {});
    const reader = body.getReader();
    let seen = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        seen += value.byteLength;
        if (seen > declared)
          throw new ServiceError("invalid_input", `the body is longer than its Content-Length of ${declared}`);
        await Promise.all([store.write(value), hash.write(value)]);
      }
      if (seen !== declared)
        throw new ServiceError(
          "invalid_input",
          `the body is ${seen} bytes, not the ${declared} its Content-Length declared`,
        );
      await Promise.all([store.close(), hash.close()]);
      await storing;
    } catch (error) {
      await Promise.allSettled([reader.cancel(), store.abort(error), hash.abort(error), storing]);
      await this.env.R2_UPLOADS.delete(staging);
      if ((error as { name?: string }).name === "ServiceError") throw error;
      throw new ServiceError("invalid_input", `the upload broke off before its ${declared} bytes arrived`);
    }
    const sha256 = toHex(await digest.digest);

    // Pass 2: the final object, with its metadata, never overwriting anything already there.
    const staged = await this.env.R2_UPLOADS.get(staging);
    if (!staged) throw new ServiceError("upstream_unavailable", "the staged upload vanished; try again");
    try {
      const stored = await this.env.R2_UPLOADS.put(key, staged.body.pipeThrough(new FixedLengthStream(declared)), {
        httpMetadata: { contentType: type },
        customMetadata: { uploader: identity.sub, route: meta.route, request_id: call.requestId, filename, sha256 },
        onlyIf: { etagDoesNotMatch: "*" },
      });
      if (!stored) throw new ServiceError("conflict", "an object with this key already exists");
      return viewOf(stored);
    } finally {
      await this.env.R2_UPLOADS.delete(staging);
    }
  }

  private async ownedKey(identity: Identity, key: string): Promise<string> {
    const prefix = await ownerPrefix(identity.sub);
    // A bare id is accepted too; anything outside the caller's prefix is simply not found.
    const full = key.startsWith("uploads/") ? key : `${prefix}${key}`;
    if (!full.startsWith(prefix) || full.includes("..") || !/^uploads\/[0-9a-f]{32}\/[0-9a-f-]{36}$/.test(full))
      throw new ServiceError("not_found", "no such upload");
    return full;
  }

  /** The caller's uploads, oldest first, paged. */
  async list(
    identity: Identity,
    query: { cursor?: string; limit?: string },
    _call: CallContext,
  ): Promise<{ uploads: UploadView[]; cursor: string | null }> {
    const limit = query.limit === undefined ? 50 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new ServiceError("invalid_input", "limit must be 1-100", { issues: [{ path: "limit", message: "1-100" }] });
    const prefix = await ownerPrefix(identity.sub);
    let page: R2Objects;
    try {
      // `include` is honoured at this compatibility date; the undated types predate it.
      const options = {
        prefix,
        limit,
        include: ["httpMetadata", "customMetadata"],
        ...(query.cursor ? { cursor: query.cursor } : {}),
      };
      page = await this.env.R2_UPLOADS.list(options as R2ListOptions);
    } catch {
      throw new ServiceError("invalid_input", "cursor is not one this API returned", {
        issues: [{ path: "cursor", message: "invalid cursor" }],
      });
    }
    return { uploads: page.objects.map(viewOf), cursor: page.truncated ? page.cursor : null };
  }

  /** One of the caller's uploads, as a stream with safe download headers. */
  async download(
    identity: Identity,
    key: string,
    _call: CallContext,
  ): Promise<{ body: ReadableStream; headers: Record<string, string> }> {
    const object = await this.env.R2_UPLOADS.get(await this.ownedKey(identity, key));
    if (!object) throw new ServiceError("not_found", "no such upload");
    const view = viewOf(object);
    return {
      body: object.body,
      headers: {
        "Content-Type": view.content_type,
        "Content-Length": String(object.size),
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": contentDisposition(
          RENDERABLE.has(view.content_type) ? "attachment" : "inline",
          view.filename,
        ),
        ETag: object.httpEtag,
        "Cache-Control": "private, no-store",
      },
    };
  }

  /** Deletes one of the caller's uploads, freeing its share of the quota. */
  async remove(identity: Identity, key: string, _call: CallContext): Promise<{ deleted: string }> {
    const full = await this.ownedKey(identity, key);
    const exists = (await this.env.R2_UPLOADS.head(full)) !== null;
    if (exists) await this.env.R2_UPLOADS.delete(full);
    // Also when the object is already gone: a delete whose quota update failed is healed by its retry.
    await this.quota(identity).remove(full);
    if (!exists) throw new ServiceError("not_found", "no such upload");
    return { deleted: full };
  }

  /** One of the caller's uploads, without its body. */
  async stat(identity: Identity, key: string, _call: CallContext): Promise<UploadView> {
    const object = await this.env.R2_UPLOADS.head(await this.ownedKey(identity, key));
    if (!object) throw new ServiceError("not_found", "no such upload");
    return viewOf(object);
  }

  /** Text of one of the caller's uploads, for ingestion (at most `maxBytes`, text types only). */
  async readText(
    identity: Identity,
    key: string,
    maxBytes: number,
    _call: CallContext,
  ): Promise<{ text: string; filename: string; content_type: string }> {
    const object = await this.env.R2_UPLOADS.get(await this.ownedKey(identity, key));
    if (!object) throw new ServiceError("not_found", "no such upload");
    const view = viewOf(object);
    if (!/^text\/|^application\/(json|xml)$/.test(view.content_type)) {
      await object.body.cancel();
      throw new ServiceError("unsupported_media_type", `${view.content_type} uploads cannot be ingested as text`);
    }
    if (object.size > maxBytes) {
      await object.body.cancel();
      throw new ServiceError("payload_too_large", `the upload is over ${maxBytes} bytes`, { limit: maxBytes });
    }
    return { text: await object.text(), filename: view.filename, content_type: view.content_type };
  }
}

export { UploadQuota } from "./quota";

/** Internal workers have no HTTP surface. */
/** What other workers bind to (`"entrypoint": "UploadsEntrypoint"`): UploadsService, answering refusals as values. */
export const UploadsEntrypoint = refusingEntrypoint<UploadsEnv, typeof UploadsService>(UploadsService);

export default {
  async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<UploadsEnv>;
