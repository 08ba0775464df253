/**
 * Fleet jobs (issue 16): one Rails request runs a command across many routers at a
 * paced rate, with an abort threshold, per-router outcomes and progress frames.
 * The HTTP API lives on the edge (docs/PROTOCOL.md, "Fleet jobs").
 */

/** Bounds of `POST /v1/jobs`. */
export const JOB_LIMITS = {
  /** Target device ids per job (after deduplication); more → 413 `payload_too_large`. */
  maxTargets: 100_000,
  /** Commands per second the job may send; default 50. */
  ratePerSecond: { min: 1, max: 1_000, default: 50 },
  /** An `Idempotency-Key` header: 1–200 visible ASCII characters. */
  idempotencyKeyPattern: /^[\x21-\x7e]{1,200}$/,
  /** Jobs running at once per account (the one Rails token); one more → 429 `too_many_jobs`. */
  maxRunningJobs: 10,
  /** Rows per page of `GET /v1/jobs/{id}/devices` (default 100). */
  pageSize: { max: 1_000, default: 100 },
  /** Days a finished job is kept (`JOB_RETENTION_DAYS`), then deleted. */
  retentionDays: { default: 30 },
} as const;

/** A job id: 32 lowercase hex characters, chosen by the edge (or derived from an Idempotency-Key). */
export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;

export const JOB_STATUSES = ["running", "completed", "aborted", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * What happened at one router. `pending`: not sent yet, or sent and not yet answered;
 * `queued`: the router was offline and the command waits in its session (`queue: true`).
 */
export const JOB_OUTCOMES = ["succeeded", "failed", "timed_out", "offline", "queued", "pending"] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];
export type JobCounts = Record<JobOutcome, number>;

const JOB_COMMAND_PREFIX = "job-";
/** `job-<jobId>-<deviceId>`: at most 4 + 32 + 1 + 64 = 101 characters, within the command id pattern. */
const JOB_COMMAND_ID = /^job-([0-9a-f]{32})-([A-Za-z0-9_-]{1,64})$/;

/**
 * The command id a job uses for one router: derived from job and router, so a command
 * sent again after a crash is the same command, and the SDK's result cache answers it
 * without running the handler twice.
 */
export function jobCommandId(jobId: string, deviceId: string): string {
  return `${JOB_COMMAND_PREFIX}${jobId}-${deviceId}`;
}

/** The job a command id belongs to, when it is a job's command for `deviceId`; else null. */
export function jobOfCommand(commandId: string, deviceId: string): string | null {
  if (!commandId.startsWith(JOB_COMMAND_PREFIX)) return null;
  const match = JOB_COMMAND_ID.exec(commandId);
  return match?.[1] !== undefined && match[2] === deviceId ? match[1] : null;
}

/** The `job` progress frame of `GET /v1/jobs/{id}/ws`. */
export interface JobFrame {
  type: "job";
  id: string;
  status: JobStatus;
  total: number;
  counts: JobCounts;
  percent: number;
  ts: number;
}
