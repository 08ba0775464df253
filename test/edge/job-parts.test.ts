/**
 * Fleet jobs (issue 16), the job's parts on their own: the abort rule and the command id
 * derived from job and router (the pacer: job-pacing.test.ts).
 */
import { describe, expect, it } from "vitest";
import { abortReason } from "../../edge/src/jobs/abort-rule.js";
import { jobCommandId, jobOfCommand } from "../../protocol/src/index.js";

describe("the job's parts", () => {
  const counts = (c: Partial<Record<string, number>>) => ({
    succeeded: 0,
    failed: 0,
    timed_out: 0,
    offline: 0,
    queued: 0,
    pending: 0,
    ...c,
  });

  it("aborts once minExecuted ran and (failed + timed_out) / executed reaches failedPercent; offline only when counted", () => {
    const abort = { failedPercent: 10, minExecuted: 50, countOffline: false };
    expect(abortReason(abort, counts({ succeeded: 40, failed: 9 }))).toBeNull();
    expect(abortReason(abort, counts({ succeeded: 45, failed: 4, timed_out: 1 }))).toMatch(
      /5 of 50 executed/,
    );
    expect(abortReason(abort, counts({ succeeded: 46, failed: 4, offline: 100, queued: 10 }))).toBeNull();
    expect(
      abortReason({ ...abort, countOffline: true }, counts({ succeeded: 46, failed: 4, offline: 10 })),
    ).toMatch(/14 of 60 executed failed, timed out or offline/);
    expect(abortReason(null, counts({ failed: 1000 }))).toBeNull();
  });

  it("derives a command id from job and router, and recognises only its own", () => {
    const jobId = "0123456789abcdef0123456789abcdef";
    const id = jobCommandId(jobId, "router-7");
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,128}$/);
    expect(jobOfCommand(id, "router-7")).toBe(jobId);
    expect(jobOfCommand(id, "router-8")).toBeNull();
    expect(jobOfCommand(crypto.randomUUID(), "router-7")).toBeNull();
  });
});
