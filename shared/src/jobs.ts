import * as v from "valibot";

/** Where a job is in its life. `pending` covers both "not yet run" and "waiting to retry". */
export const JOB_STATUSES = ["pending", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The most attempts a job may ask for. */
export const MAX_JOB_ATTEMPTS = 10;

/** Body of `POST /api/jobs`. `input` is checked by the kind's own schema. */
export const CreateJobRequest = v.strictObject({
  kind: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+$/, "kind must look like si.ask")),
  input: v.optional(v.unknown()),
  run_at: v.optional(v.pipe(v.string(), v.isoTimestamp("run_at must be an ISO 8601 timestamp"))),
  max_attempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_JOB_ATTEMPTS))),
});
export type CreateJobRequest = v.InferOutput<typeof CreateJobRequest>;

/** Body of `PATCH /api/jobs/:id`: cancel it, or replace its input while it is still pending. */
export const UpdateJobRequest = v.union(
  [v.strictObject({ action: v.literal("cancel") }), v.strictObject({ input: v.unknown() })],
  'send {"action":"cancel"} or {"input": …}',
);

/** One entry of a job's status history. */
export interface JobHistoryEntry {
  status: JobStatus;
  at: string;
  note?: string;
}

/** A job as its owner sees it. */
export interface JobView {
  id: string;
  kind: string;
  status: JobStatus;
  input: unknown;
  result?: unknown;
  last_error?: string;
  attempts: number;
  max_attempts: number;
  run_at: string;
  created_at: string;
  updated_at: string;
  history: JobHistoryEntry[];
}

/**
 * A job as `GET /api/jobs` lists it: no `input`, `result` or `history` (those can be large; they
 * are at `GET /api/jobs/:id`), and `last_error` cut to its first 200 characters.
 */
export type JobSummary = Omit<JobView, "input" | "result" | "history">;

/** What `POST /api/admin/cleanup` pruned; `complete` is false when a scan stopped at its bound. */
export type JobCleanupResult = {
  jobs_deleted: number;
  due_keys_deleted: number;
  usage_events_deleted: number;
  complete: boolean;
};

/** What one runner pass did with one job. */
export interface JobRunReport {
  id: string;
  kind: string;
  outcome: "succeeded" | "retry_scheduled" | "failed" | "skipped";
  attempts?: number;
  error?: string;
  reason?: string;
}
