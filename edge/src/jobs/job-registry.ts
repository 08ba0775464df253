import { DurableObject } from "cloudflare:workers";
import { JOB_LIMITS } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";

/** The one registry object: the edge has one account, the holder of RAILS_API_TOKEN. */
export const ACCOUNT = "rails";

/**
 * The running jobs of one account, so at most JOB_LIMITS.maxRunningJobs run at once
 * (one more is refused 429 `too_many_jobs`). A FleetJob claims its slot before it
 * stores its plan and releases it when it ends (completed, aborted, cancelled).
 * Bound: maxRunningJobs rows; a row whose job never released it (it was deleted)
 * is dropped after the retention period by claim().
 */
export class JobRegistry extends DurableObject<EdgeEnv> {
  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS running (job_id TEXT PRIMARY KEY, claimed_at INTEGER NOT NULL)",
    );
  }

  /** True when `jobId` holds (or now took) a slot; false when every slot is taken. */
  claim(jobId: string, nowMs: number, staleAfterMs: number): boolean {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM running WHERE claimed_at < ?", nowMs - staleAfterMs);
    if (sql.exec("SELECT 1 FROM running WHERE job_id = ?", jobId).toArray().length > 0) return true;
    const { n } = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM running").one();
    if (n >= JOB_LIMITS.maxRunningJobs) return false;
    sql.exec("INSERT INTO running (job_id, claimed_at) VALUES (?, ?)", jobId, nowMs);
    return true;
  }

  release(jobId: string): void {
    this.ctx.storage.sql.exec("DELETE FROM running WHERE job_id = ?", jobId);
  }

  running(): string[] {
    return this.ctx.storage.sql
      .exec<{ job_id: string }>("SELECT job_id FROM running ORDER BY claimed_at")
      .toArray()
      .map((row) => row.job_id);
  }
}
