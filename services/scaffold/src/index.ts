import {
  AppGraph,
  assertFeature,
  type CallContext,
  gateFor,
  type Identity,
  identityFlagContext,
  type LimitState,
  type Meter,
  parseAppGraph,
  parseInput,
  SCAFFOLD_PAGE_DEFAULT,
  ScaffoldGraphRequest,
  type ScaffoldGraphResult,
  ScaffoldListQuery,
  type ScaffoldManifest,
  type ScaffoldPage,
  type ScaffoldRecord,
  ServiceError,
} from "@cognomega/shared";
import { MeshEntrypoint, refusingEntrypoint } from "@cognomega/shared/refusals";
import * as v from "valibot";
import { packProject } from "./manifest";
import { SCAFFOLD_SETTINGS } from "./settings";
import {
  checkedId,
  checkQuota,
  createdAt,
  downloadPath,
  graphIndexKey,
  noSuchScaffold,
  ownerPrefix,
  scaffoldId,
  scaffoldKeys,
} from "./store";

export { ownerPrefix, scaffoldId, scaffoldKeys } from "./store";

/** A designed graph with the billing headers of the ask that designed it. */
export interface GraphAnswer {
  body: ScaffoldGraphResult;
  meter: Meter;
  /** The caller's daily credit budget as SI saw it after this ask's charge. */
  dailyCredits?: LimitState["daily_credits"];
}

/** A scaffold's zip, streamed from the bucket, with the headers to send it as a download. */
export interface ScaffoldDownload {
  body: ReadableStream;
  headers: Record<string, string>;
}

/**
 * Internal worker: a prompt becomes an App Graph (through SI's `app-graph` skill), and an App Graph
 * becomes a Workers + D1 starter project, a zip in R2 under its owner's prefix. No routes; the
 * gateway and the jobs worker call it over RPC.
 */
export class ScaffoldService extends MeshEntrypoint<ScaffoldEnv> {
  /** Liveness for the gateway's `/ready`. */
  async health(): Promise<{ service: "scaffold"; ok: true }> {
    return { service: "scaffold", ok: true };
  }

  /**
   * 403 `feature_disabled` unless `scaffold.enabled` is on for the caller. The gateway checks its
   * routes first; this check is the one a `scaffold.generate` job meets when it runs, so a job queued
   * before the feature was switched off cannot design or render anything after.
   */
  private async requireEnabled(identity: Identity, call: CallContext): Promise<void> {
    const on = await gateFor(
      this.env.FLAGS,
      this.env.FLAGS_CACHE_TTL_SECONDS,
      "scaffold.enabled",
      identityFlagContext(identity),
      call,
    );
    assertFeature("scaffold.enabled", on);
  }

  /**
   * `{ prompt, model?, policy? }` → an App Graph designed by SI's `app-graph` skill, billed as an
   * ask (SI validates the answer against the App Graph and repairs it once). With an idempotency key,
   * a retry replays the first answer instead of paying again. A model that fails even after the
   * repair is 502 `upstream_error`, with what the attempt cost.
   */
  async graph(
    input: unknown,
    identity: Identity,
    idempotencyKey: string | null,
    call: CallContext,
  ): Promise<GraphAnswer> {
    const body = parseInput(ScaffoldGraphRequest, input);
    await this.requireEnabled(identity, call);
    const ask: Record<string, string> = { prompt: body.prompt, skill: "app-graph" };
    if (body.model !== undefined) ask.model = body.model;
    if (body.policy !== undefined) ask.policy = body.policy;
    const answer = await this.env.SI.ask(ask, identity, idempotencyKey, call);
    if ("stream" in answer) throw new ServiceError("internal", "the app-graph ask answered with a stream");
    const result = answer.body as typeof answer.body & { schema_error?: string };
    // SI checked it with this same schema; checking again keeps this method's promise if SI changes.
    const checked = v.safeParse(AppGraph, result.data);
    if (!checked.success) {
      throw new ServiceError(
        "upstream_error",
        `the model did not design a valid App Graph, even after one repair: ${result.schema_error ?? "no JSON object"}`,
        {
          schema_error: result.schema_error ?? "no JSON object",
          credits_used: result.credits_used,
          provider: result.provider,
          model: result.model,
        },
      );
    }
    const designed: GraphAnswer = {
      body: {
        graph: checked.output,
        usage: result.usage,
        credits_used: result.credits_used,
        balance: result.balance,
        provider: result.provider,
        model: result.model,
        request_id: result.request_id,
      },
      meter: answer.meter,
    };
    if (answer.dailyCredits) designed.dailyCredits = answer.dailyCredits;
    return designed;
  }

  /**
   * Checks the graph (400 `invalid_input` with `issues[]`), renders and zips the project, and stores
   * the archive under the owner's prefix with its owner, request id and both SHA-256s as metadata,
   * at most `SCAFFOLD_QUOTA_COUNT` per owner (403 `quota_exceeded` past it; delete one to make room),
   * and beside it a record of the manifest and the graph (for `get`). `options.id` is for the jobs
   * worker: a retried job renders under the id its earlier attempt used, replacing it with the
   * same bytes instead of leaving a second scaffold.
   */
  async render(
    graph: unknown,
    identity: Identity,
    call: CallContext,
    options: { id?: string } = {},
  ): Promise<ScaffoldManifest> {
    await this.requireEnabled(identity, call);
    const checked = parseAppGraph(graph);
    const packed = await packProject(checked);
    const indexKey = await graphIndexKey(identity.sub, packed.graphSha256);
    if (options.id === undefined) {
      // The same graph renders to the same bytes: a re-render answers the scaffold already stored.
      const known = await this.env.R2.get(indexKey);
      const stored =
        known && (await this.env.R2.get((await scaffoldKeys(identity.sub, checkedId(await known.text()))).record));
      if (stored) {
        const { graph: _graph, created_at: _at, ...existing } = (await stored.json()) as ScaffoldRecord;
        if (existing.archive.sha256 === packed.manifest.archive.sha256) return existing;
      }
    }
    const id = options.id === undefined ? scaffoldId() : checkedId(options.id);
    const keys = await scaffoldKeys(identity.sub, id);
    await this.checkRoom(identity, options, call);
    const manifest: ScaffoldManifest = { id, ...packed.manifest, download: downloadPath(id) };
    const record: ScaffoldRecord = { ...manifest, graph: checked, created_at: createdAt(id) };
    await this.env.R2.put(keys.archive, packed.archive, {
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
    // A graph may be hundreds of KiB, far past R2's 2 KiB of custom metadata: it gets its own object.
    await this.env.R2.put(keys.record, JSON.stringify(record), {
      httpMetadata: { contentType: "application/json" },
      customMetadata: { owner: identity.sub, request_id: call.requestId, graph_sha256: packed.graphSha256 },
    });
    await this.env.R2.put(indexKey, id);
    return manifest;
  }

  /**
   * 403 `quota_exceeded` when a render for the caller would be refused for its quota (or
   * `feature_disabled` when scaffolding is off for it): the jobs worker asks before it designs (and
   * pays for) a graph. Rendering under `options.id` when that
   * scaffold exists (a retried job replacing its own zip) adds nothing, so it always has room.
   */
  async checkRoom(
    identity: Identity,
    options: { id?: string } = {},
    call: CallContext = { requestId: "scaffold-check-room" },
  ): Promise<void> {
    await this.requireEnabled(identity, call);
    if (options.id !== undefined) {
      const keys = await scaffoldKeys(identity.sub, checkedId(options.id));
      if ((await this.env.R2.head(keys.archive)) !== null) return;
    }
    await checkQuota(this.env.R2, identity.sub, SCAFFOLD_SETTINGS.read(this.env).SCAFFOLD_QUOTA_COUNT);
  }

  /**
   * The caller's scaffolds, oldest first (ids are time-ordered), `limit` (default 20, at most 100) to
   * a page; `cursor` is the last id of the previous page, and the answer has one when more follow.
   */
  async list(identity: Identity, query: ScaffoldListQuery | undefined, _call: CallContext): Promise<ScaffoldPage> {
    const parsed = parseInput(ScaffoldListQuery, query ?? {});
    const prefix = await ownerPrefix(identity.sub);
    // The cursor is an id, not R2's opaque cursor: checked exactly, it starts the listing after itself.
    // `include` is honoured at this compatibility date; the undated types predate it.
    const options = {
      prefix,
      limit: Number(parsed.limit ?? SCAFFOLD_PAGE_DEFAULT),
      include: ["customMetadata"],
      ...(parsed.cursor === undefined ? {} : { startAfter: `${prefix}${parsed.cursor}.zip` }),
    };
    const listed = await this.env.R2.list(options as R2ListOptions);
    const scaffolds = listed.objects.map((object) => {
      const id = object.key.slice(prefix.length, -".zip".length);
      return {
        id,
        name: object.customMetadata?.name ?? "",
        archive: { bytes: object.size, sha256: object.customMetadata?.archive_sha256 ?? "" },
        created_at: createdAt(id),
        download: downloadPath(id),
      };
    });
    const page: ScaffoldPage = { scaffolds };
    const last = scaffolds.at(-1);
    if (listed.truncated && last) page.cursor = last.id;
    return page;
  }

  /** One of the caller's scaffolds: its manifest and the graph it was rendered from. */
  async get(identity: Identity, id: string, _call: CallContext): Promise<ScaffoldRecord> {
    const object = await this.env.R2.get((await scaffoldKeys(identity.sub, checkedId(id))).record);
    if (!object) throw noSuchScaffold();
    return (await object.json()) as ScaffoldRecord;
  }

  /** One of the caller's scaffolds as a zip download (`application/zip`, an attachment). */
  async download(identity: Identity, id: string, _call: CallContext): Promise<ScaffoldDownload> {
    const object = await this.env.R2.get((await scaffoldKeys(identity.sub, checkedId(id))).archive);
    if (!object) throw noSuchScaffold();
    return {
      body: object.body,
      headers: {
        "Content-Type": "application/zip",
        "Content-Length": String(object.size),
        "Content-Disposition": object.httpMetadata?.contentDisposition ?? `attachment; filename="scaffold.zip"`,
        ETag: object.httpEtag,
        "Cache-Control": "private, no-store",
      },
    };
  }

  /** Deletes one of the caller's scaffolds: its zip and its record. */
  async remove(identity: Identity, id: string, _call: CallContext): Promise<{ deleted: string }> {
    const keys = await scaffoldKeys(identity.sub, checkedId(id));
    const [archive, record] = await Promise.all([this.env.R2.head(keys.archive), this.env.R2.head(keys.record)]);
    if (!archive && !record) throw noSuchScaffold();
    const graphSha = record?.customMetadata?.graph_sha256;
    const indexKey = graphSha ? await graphIndexKey(identity.sub, graphSha) : undefined;
    const pointsHere = indexKey ? (await (await this.env.R2.get(indexKey))?.text()) === id : false;
    await this.env.R2.delete([keys.archive, keys.record, ...(pointsHere && indexKey ? [indexKey] : [])]);
    return { deleted: id };
  }
}

/** What other workers bind to (`"entrypoint": "ScaffoldEntrypoint"`): ScaffoldService, answering refusals as values. */
export const ScaffoldEntrypoint = refusingEntrypoint<ScaffoldEnv, typeof ScaffoldService>(ScaffoldService);

export default {
  async fetch(): Promise<Response> {
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<ScaffoldEnv>;
