/**
 * The job's pacing: at most `ratePerSecond` commands in any window of WINDOW_MS, sent
 * in slices of a tenth of that each TICK_MS. The window is 20 % longer than a second,
 * so routers see no more than `ratePerSecond` in any one second even when one slice's
 * delivery lags another's by up to 200 ms; the rate kept is therefore at most ~83 % of
 * the rate asked for (docs/EDGE.md, "Fleet jobs").
 */
export const WINDOW_MS = 1_200;
/** How often a running job wakes to send its next slice. */
export const TICK_MS = 100;
/** Commands of one job waiting for the broker at once (half the broker's MAX_COMMANDS_IN_FLIGHT). */
export const MAX_IN_FLIGHT = 1_000;

export class Pacer {
  /** Send times within the last WINDOW_MS, oldest first. Bound: ≤ ratePerSecond entries. */
  private readonly sent: number[];
  private lastSliceAt: number | null = null;

  constructor(
    private readonly ratePerSecond: number,
    recentSendTimes: number[],
  ) {
    this.sent = [...recentSendTimes];
  }

  /** How many may be sent at `now`: what the window leaves, spread over ticks (no burst of a whole second). */
  budget(now: number): number {
    while (this.sent.length > 0 && (this.sent[0] ?? 0) <= now - WINDOW_MS) this.sent.shift();
    const windowLeft = Math.max(0, this.ratePerSecond - this.sent.length);
    const elapsed = this.lastSliceAt === null ? TICK_MS : Math.max(TICK_MS, now - this.lastSliceAt);
    // A late tick catches up one tick at most: a burst after a stall would reach the
    // routers squeezed together with the slices after it.
    const slice = Math.ceil((this.ratePerSecond * Math.min(elapsed, 2 * TICK_MS)) / 1000);
    return Math.min(windowLeft, slice);
  }

  /** A slice was sent at `now` (the next one's size counts from here). */
  sliced(now: number): void {
    this.lastSliceAt = now;
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
