import type { JobCounts } from "../../../protocol/src/index.js";
import type { JobPlan } from "./job-schemas.js";

/**
 * The abort threshold (issue 16): once `minExecuted` routers executed the command,
 * (failed + timed_out) / executed ≥ failedPercent aborts the job. An offline router is
 * normal in a fleet: it counts (as executed and as failed) only with `countOffline`.
 * `queued` and `pending` routers have not executed anything yet.
 * Returns why the job must abort, or null.
 */
export function abortReason(abort: JobPlan["abort"], counts: JobCounts): string | null {
  if (!abort) return null;
  const offline = abort.countOffline ? counts.offline : 0;
  const bad = counts.failed + counts.timed_out + offline;
  const executed = counts.succeeded + bad;
  if (executed < abort.minExecuted || executed === 0) return null;
  const percent = (bad / executed) * 100;
  if (percent < abort.failedPercent) return null;
  const what = abort.countOffline ? "failed, timed out or offline" : "failed or timed out";
  return `${bad} of ${executed} executed ${what} (${percent.toFixed(1)} % ≥ ${abort.failedPercent} %)`;
}
