/**
 * The job's pacing: at most `ratePerSecond` commands in any window of WINDOW_MS. The
 * window is 10 % longer than a second, so routers see no more than `ratePerSecond` in
 * any one second even when a slice's delivery jitters by up to 100 ms; the rate kept is
 * therefore ~91 % of the rate asked for (docs/EDGE.md, "Fleet jobs").
 */
export const WINDOW_MS = 1_100;
/** How often a running job wakes to send its next slice. */
export const TICK_MS = 100;
/** Commands of one job waiting for the broker at once (half the broker's MAX_COMMANDS_IN_FLIGHT). */
export const MAX_IN_FLIGHT = 1_000;

export class Pacer {
  /** Send times within the last WINDOW_MS, oldest first. Bound: ≤ ratePerSecond entries. */
  private readonly sent: number[];

  constructor(
    private readonly ratePerSecond: number,
    recentSendTimes: number[],
  ) {
    this.sent = [...recentSendTimes];
  }

  /** How many may be sent at `now`. */
  budget(now: number): number {
    while (this.sent.length > 0 && (this.sent[0] ?? 0) <= now - WINDOW_MS) this.sent.shift();
    return Math.max(0, this.ratePerSecond - this.sent.length);
  }

  record(now: number): void {
    this.sent.push(now);
  }

  /** When budget() next becomes positive (now, if it is). */
  nextSlot(now: number): number {
    if (this.budget(now) > 0) return now;
    return (this.sent[0] ?? now) + WINDOW_MS;
  }

  /** Commands sent per second over the last window. */
  rate(now: number): number {
    this.budget(now);
    return Math.round((this.sent.length * 1000) / WINDOW_MS);
  }
}
