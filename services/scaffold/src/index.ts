import { WorkerEntrypoint } from "cloudflare:workers";
import { type CallContext, type Identity, parseAppGraph } from "@cognomega/shared";
import { packProject, type ScaffoldManifest } from "./manifest";

export type { ScaffoldManifest } from "./manifest";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The owner's key prefix: a hash, so account names never appear in storage paths. */
export async function ownerPrefix(sub: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`scaffold\n${sub}`));
  return `scaffold/${hex(new Uint8Array(digest).slice(0, 16))}/`;
}

/** A time-ordered id (UUID v7), so an owner's scaffolds list oldest first by key. */
export function scaffoldId(now = Date.now()): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Internal worker: an App Graph becomes a Workers + D1 starter project (a zip in R2). No routes; the
 * gateway calls it over RPC.
 */
export class ScaffoldService extends WorkerEntrypoint<ScaffoldEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "scaffold"; ok: true }> {
    return { service: "scaffold", ok: true };
  }

  /**
   * Checks the graph (400 `invalid_input` with `issues[]`), renders and zips the project, and stores
   * the archive under the owner's prefix with its owner, request id and both SHA-256s as metadata.
   */
  async render(graph: unknown, identity: Identity, call: CallContext): Promise<ScaffoldManifest> {
    const checked = parseAppGraph(graph);
    const packed = await packProject(checked);
    const id = scaffoldId();
    await this.env.R2.put(`${await ownerPrefix(identity.sub)}${id}.zip`, packed.archive, {
      httpMetadata: {
        contentType: "application/zip",
        contentDisposition: `attachment; filename="${packed.slug}.zip"`,
      },
      customMetadata: {
        owner: identity.sub,
        request_id: call.requestId,
        graph_sha256: packed.graphSha256,
        archive_sha256: packed.manifest.archive.sha256,
        name: checked.name,
      },
    });
    return { id, ...packed.manifest };
  }
}

export default {
  async fetch(): Promise<Response> {
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<ScaffoldEnv>;
