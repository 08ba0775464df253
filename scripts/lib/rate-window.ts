/**
 * The most of `times` (ms) that any window of `windowMs` holds: how a fleet job's rate is
 * judged from the routers' side (bench/jobs.ts, test/e2e/jobs.test.ts, test/edge/job-pacing.test.ts).
 * Pure (no Node API): the workerd tests import it too.
 */
export function maxPerWindow(times: readonly number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}
