import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The files that take longest, longest first (vitest's per-file durations, issue 13).
 * They start first so the short files fill the other workers around them; vitest's own
 * order (by the last run's durations) does not exist yet in a fresh clone, where it falls
 * back to file size and started the longest files last. Paths from the repository root.
 */
export const LONGEST_FIRST = [
  "test/e2e/start.test.ts",
  "test/e2e/nothing-lost.test.ts",
  "test/e2e/desired.test.ts",
  "test/e2e/system.test.ts",
  "test/broker/auth-forget.test.ts",
  "test/broker/diagnostics-wiring.test.ts",
  "test/setup/services.test.ts",
  "test/leak/heap-diff.test.ts",
  "test/security/broker-fuzz.test.ts",
  "test/edge-deploy/dry-run.test.ts",
  "test/broker/node-liveness.test.ts",
  "test/broker/liveness.test.ts",
];

/**
 * The files that start after every other of their group: the churn pair, a core each for
 * ~10-13 s of pure compute, fills the end of the run, when the short files mostly wait on timers;
 * and the timing lane's fleet jobs (~30 s, pacing-bound), after the lane's short files and
 * clear of the rest's start (three systems, wrangler and Chromium starting at once): its first
 * job, run then, once saw 120 commands in one router-side second at 100/s (one run in eight).
 */
export const LAST = [
  "test/leak/churn.test.ts",
  "test/leak/churn-catches-leak.test.ts",
  "test/e2e/jobs.test.ts",
];

/** vitest's order (groups first), then LONGEST_FIRST, then the rest, then LAST within each group. */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((path) => spec.moduleId.endsWith(path));
      if (index !== -1) return index;
      const last = LAST.findIndex((path) => spec.moduleId.endsWith(path));
      return last === -1 ? LONGEST_FIRST.length : LONGEST_FIRST.length + 1 + last;
    };
    const group = (spec: TestSpecification) => spec.project.config.sequence.groupOrder;
    return sorted
      .map((spec, order) => ({ spec, order }))
      .sort((a, b) => group(a.spec) - group(b.spec) || rank(a.spec) - rank(b.spec) || a.order - b.order)
      .map(({ spec }) => spec);
  }
}
