import {
  AskRequest,
  type CallContext,
  type Identity,
  parseInput,
  RagIngestRequest,
  ServiceError,
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

export const KINDS: Record<string, JobKind> = {
  "si.ask": {
    adminOnly: false,
    validate: (input) => parseInput(AsyncAsk, input),
    async run({ env, job, call }) {
      // One idempotency key for every attempt: if an earlier attempt got its answer (and was billed)
      // but the runner died before recording it, the retry replays the answer instead of paying again.
      // The key names this row (its nonce), not just the id: a job re-created under the same
      // Idempotency-Key after this one was pruned is a new ask, billed anew.
      const key = job.nonce === undefined ? `job:${job.id}` : `job:${job.id}:${job.nonce}`;
      const answer = await env.SI.ask(job.input, job.owner as Identity, key, call);
      if ("stream" in answer) throw new ServiceError("internal", "an async ask answered with a stream");
      return answer.body;
    },
  },
  "rag.ingest": {
    adminOnly: false,
    validate: (input) => parseInput(RagIngestRequest, input),
    run: ({ env, job, call }) => env.RAG.ingest(job.owner as Identity, job.input, call),
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
