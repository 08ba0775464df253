/**
 * Counts occurrences and says when it is time to log them: the first one at
 * once, then at most one summary per `intervalMs`, so a flood of drops or
 * failures costs a few log lines, not one per event.
 */
export class ThrottledCounter {
  private pending = 0;
  private lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  /** Adds `count`; returns the total to report now, or 0 when the report must wait. */
  add(count: number): number {
    this.pending += count;
    const at = this.now();
    if (at - this.lastReportAt < this.intervalMs) return 0;
    this.lastReportAt = at;
    return this.take();
  }

  /** Returns and resets what has not been reported yet (e.g. on close). */
  take(): number {
    const total = this.pending;
    this.pending = 0;
    return total;
  }
}
