import type { JobFrame } from "../../../protocol/src/index.js";
import { jobCommandId } from "../../../protocol/src/index.js";
import type { JobDevice, JobView } from "./job-schemas.js";
import type { JobMeta, JobStore, TargetRow } from "./job-store.js";

/**
 * `GET /v1/jobs/{id}`'s answer, built from the stored job and its tallies. `rate`: sent in
 * the last second; `kept`: the rate an ETA can count on (pacing.ts, keptRate).
 */
export function jobView(meta: JobMeta, store: JobStore, rate: number, kept: number, now: number): JobView {
  const counts = store.counts();
  const unsent = store.count("pending");
  const running = meta.status === "running";
  return {
    id: meta.id,
    status: meta.status,
    command: commandSummary(meta.plan.command),
    total: meta.total,
    counts,
    dispatched: meta.total - unsent,
    percent: percentDone(meta.total, counts.pending),
    ratePerSecond: meta.plan.ratePerSecond,
    rate: running ? rate : 0,
    abort: meta.plan.abort,
    createdAt: meta.createdAt,
    startedAt: meta.createdAt,
    endedAt: meta.endedAt,
    eta: running ? now + Math.ceil((unsent / kept) * 1000) : null,
    reason: meta.reason,
  };
}

function percentDone(total: number, pending: number): number {
  return total === 0 ? 100 : Math.floor(((total - pending) / total) * 1000) / 10;
}

/** The `job` progress frame sent to the job's sockets. */
export function jobFrame(meta: JobMeta, store: JobStore, now: number): JobFrame {
  const counts = store.counts();
  return {
    type: "job",
    id: meta.id,
    status: meta.status,
    total: meta.total,
    counts,
    percent: percentDone(meta.total, counts.pending),
    ts: now,
  };
}

/** One row of `GET /v1/jobs/{id}/devices`. */
export function jobDevice(jobId: string, row: TargetRow): JobDevice {
  return {
    deviceId: row.device,
    outcome: row.state === "sent" ? "pending" : row.state,
    commandId: jobCommandId(jobId, row.device),
    attempts: row.attempts,
    updatedAt: row.updated_at,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" },
    // Stored by JobStore.finish() with JSON.stringify; never from outside.
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
  };
}

function commandSummary(command: JobMeta["plan"]["command"]): JobView["command"] {
  const { params: _params, ...options } = command;
  return options;
}
