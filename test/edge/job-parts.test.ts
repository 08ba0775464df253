/**
 * Fleet jobs (issue 16), the job's parts on their own: the abort rule, the pacer's rate
 * in any second, and the command id derived from job and router.
 */
import { describe, expect, it } from "vitest";
import { abortReason } from "../../edge/src/jobs/abort-rule.js";
import { Pacer, TICK_MS } from "../../edge/src/jobs/pacing.js";
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

  it("paces at most ratePerSecond in any second, however late the ticks come", () => {
    for (const rate of [1, 7, 100, 1000]) {
      const pacer = new Pacer(rate, []);
      const sent: number[] = [];
      let now = 0;
      for (let tick = 0; tick < 400; tick++) {
        now += TICK_MS + ((tick * 37) % 5 === 0 ? 400 : (tick * 13) % 90);
        const n = pacer.budget(now);
        if (n > 0) pacer.sliced(now);
        for (let i = 0; i < n; i++) {
          pacer.record(now);
          sent.push(now);
        }
      }
      let start = 0;
      for (let end = 0; end < sent.length; end++) {
        while ((sent[end] ?? 0) - (sent[start] ?? 0) >= 1000) start++;
        expect(end - start + 1, `rate ${rate}`).toBeLessThanOrEqual(rate);
      }
      expect(sent.length).toBeGreaterThan(0);
    }
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
