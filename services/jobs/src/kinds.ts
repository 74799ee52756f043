import {
  AskRequest,
  type CallContext,
  type Identity,
  isServiceError,
  parseInput,
  RagIngestRequest,
  ScaffoldGraphRequest,
  type ScaffoldJobResult,
  ServiceError,
  sha256Bytes,
  uuidV7,
} from "@cognomega/shared";
import * as v from "valibot";
import type { JobRow } from "./store";

/** What a kind needs to run: the worker's env and the job. */
export interface KindContext {
  env: JobsEnv;
  job: JobRow;
  call: CallContext;
  /** Prunes stale jobs (given by the service, which owns the job store). */
  cleanup(): Promise<Record<string, number | boolean>>;
}

/** A job kind: how its input is checked when the job is created, and how it runs. */
export interface JobKind {
  /** Only admins may create jobs of this kind. */
  adminOnly: boolean;
  validate(input: unknown): unknown;
  run(context: KindContext): Promise<unknown>;
}

// An asynchronous ask must not stream: there is nobody to stream to.
const AsyncAsk = v.pipe(
  AskRequest,
  v.check((body) => body.stream !== true, "a job cannot stream; leave stream out"),
);

/**
 * The key of a job's billed calls: the same on every attempt, so a retry after an attempt that was
 * paid for but not recorded replays the answer. It names this row (its nonce), not just the id: a
 * job re-created under the same Idempotency-Key after this one was pruned is a new call, billed anew.
 */
function attemptKey(job: JobRow): string {
  return job.nonce === undefined ? `job:${job.id}` : `job:${job.id}:${job.nonce}`;
}

/** The scaffold id a job renders under on every attempt: made with the job, unique to its row. */
async function jobScaffoldId(job: JobRow): Promise<string> {
  return uuidV7(job.created_at, await sha256Bytes(`scaffold\n${attemptKey(job)}`));
}

export const KINDS: Record<string, JobKind> = {
  "si.ask": {
    adminOnly: false,
    validate: (input) => parseInput(AsyncAsk, input),
    async run({ env, job, call }) {
      const answer = await env.SI.ask(job.input, job.owner as Identity, attemptKey(job), call);
      if ("stream" in answer) throw new ServiceError("internal", "an async ask answered with a stream");
      return answer.body;
    },
  },
  "rag.ingest": {
    adminOnly: false,
    validate: (input) => parseInput(RagIngestRequest, input),
    run: ({ env, job, call }) => env.RAG.ingest(job.owner as Identity, job.input, call),
  },
  "scaffold.generate": {
    adminOnly: false,
    validate: (input) => parseInput(ScaffoldGraphRequest, input),
    async run({ env, job, call }): Promise<ScaffoldJobResult> {
      const owner = job.owner as Identity;
      // The graph is billed once across attempts (keyed like an si.ask job); the render goes under
      // one id across attempts, so a retry replaces its own earlier zip with the same bytes.
      const id = await jobScaffoldId(job);
      // An owner at its scaffold quota is refused before the graph is designed and paid for.
      await env.SCAFFOLD.checkRoom(owner, { id }, call);
      const designed = await env.SCAFFOLD.graph(job.input, owner, attemptKey(job), call);
      const manifest = await env.SCAFFOLD.render(designed.body.graph, owner, call, { id });
      return {
        scaffold_id: manifest.id,
        name: manifest.name,
        download: manifest.download,
        archive: manifest.archive,
        credits_used: designed.body.credits_used,
      };
    },
  },
  "usage.rollup": {
    adminOnly: true,
    validate: (input) => parseInput(v.optional(v.strictObject({})), input) ?? {},
    async run({ env, job, call }) {
      try {
        return await env.ANALYTICS.rollupScheduled(job.owner as Identity, call);
      } catch (error) {
        // A deployment without a database has no rollup to do; anything else (the database down
        // included) fails the attempt and the runner retries it with backoff.
        if (isServiceError(error) && error.code === "not_configured") return { skipped: "not_configured" };
        throw error;
      }
    },
  },
  "admin.cleanup": {
    adminOnly: true,
    validate: (input) => parseInput(v.optional(v.strictObject({})), input) ?? {},
    run: ({ cleanup }) => cleanup(),
  },
};

/** The kind, or `invalid_input` naming the known ones. */
export function kindOf(name: string): JobKind {
  const kind = KINDS[name];
  if (!kind) {
    throw new ServiceError("invalid_input", `unknown job kind ${name}; kinds: ${Object.keys(KINDS).join(", ")}`, {
      issues: [{ path: "kind", message: "unknown kind" }],
    });
  }
  return kind;
}
