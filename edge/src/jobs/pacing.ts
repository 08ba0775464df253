/**
 * The job's pacing: at most `ratePerSecond` commands start at the routers in any second.
 *
 * The job cannot see a router start a command, only the command leaving and its answer
 * coming back; a router starts it somewhere in between. So each command holds a place in
 * the rate from when it is sent until one second after its answer: two commands can then
 * start at the routers within the same second only if both held a place at once, however
 * late either was delivered. An answer that is slow to come back holds its place for at most
 * HOLD_MS (the place is then freed one second after that), so a few slow routers do not stall
 * the job; that is the only case where the bound rests on an assumption: that a command
 * unanswered after HOLD_MS is running, not still on its way.
 *
 * A job whose routers take longer than HOLD_MS to answer most commands (a handler that
 * downloads something) learns nothing from its answers about delivery: its commands hold
 * their place for MARGIN_MS plus a second instead (the earlier rule), and the rate kept is
 * ~83 % of the rate asked. A job of quick commands keeps ~1000 / (1000 + answer time +
 * half a tick) of it (docs/EDGE.md, "Fleet jobs").
 *
 * Commands go out in slices of a tenth of the rate each TICK_MS, so a second's worth never
 * leaves at once.
 */
/** How often a running job wakes to send its next slice. */
export const TICK_MS = 100;
/** Commands of one job waiting for the broker at once (half the broker's MAX_COMMANDS_IN_FLIGHT). */
export const MAX_IN_FLIGHT = 1_000;
/** The longest an unanswered command holds its place (before the second after it). */
export const HOLD_MS = 1_000;
/** What a command holds beyond its second when the job's answers say nothing about delivery. */
export const MARGIN_MS = 200;
/** Answer times the job judges by (the latest ones). */
const LATENCIES = 32;

/** The median of `values` (0 for none). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * The rate a job keeps, for its ETA: each place turns over once per second plus the answer
 * time (plus half a tick's wait to be reused), or per second plus MARGIN_MS for slow answers.
 * `latencies`: the job's latest answer times (none yet: assume instant ones).
 */
export function keptRate(ratePerSecond: number, latencies: readonly number[]): number {
  const answer = median(latencies);
  const turnover = answer <= HOLD_MS ? 1000 + answer + TICK_MS / 2 : 1000 + MARGIN_MS;
  return (ratePerSecond * 1000) / turnover;
}

/** One command sent: when, and when its answer came back (null while it has not). */
export interface Place {
  readonly sentAt: number;
  answeredAt: number | null;
}

export class Pacer {
  /** Commands still holding a place, in sending order. Bound: ≤ ratePerSecond (budget() never exceeds it). */
  private places: Place[];
  /** The latest answer times (ms), oldest first. Bound: LATENCIES. */
  private readonly latencies: number[] = [];
  private lastSliceAt: number | null = null;

  /** `restored`: the commands sent in the last HOLD_MS + 1 s before a restart (job-store.ts). */
  constructor(
    private readonly ratePerSecond: number,
    restored: Place[],
  ) {
    this.places = [...restored];
  }

  /**
   * How long an unanswered command holds its place: HOLD_MS while the job's answers come
   * back within it (the median of the latest), MARGIN_MS once they mostly do not.
   */
  private hold(): number {
    return median(this.latencies) <= HOLD_MS ? HOLD_MS : MARGIN_MS;
  }

  /** When `place` frees: a second after its answer, or after the hold if none came by then. */
  private freesAt(place: Place, hold: number): number {
    return Math.min(place.answeredAt ?? Number.POSITIVE_INFINITY, place.sentAt + hold) + 1000;
  }

  private prune(now: number): void {
    const hold = this.hold();
    this.places = this.places.filter((place) => this.freesAt(place, hold) > now);
  }

  /** How many may be sent at `now`: the free places, spread over ticks (no burst of a whole second). */
  budget(now: number): number {
    this.prune(now);
    const free = Math.max(0, this.ratePerSecond - this.places.length);
    const elapsed = this.lastSliceAt === null ? TICK_MS : Math.max(TICK_MS, now - this.lastSliceAt);
    // A late tick catches up one tick at most: a burst after a stall would reach the
    // routers squeezed together with the slices after it.
    const slice = Math.ceil((this.ratePerSecond * Math.min(elapsed, 2 * TICK_MS)) / 1000);
    return Math.min(free, slice);
  }

  /** A slice was sent at `now` (the next one's size counts from here). */
  sliced(now: number): void {
    this.lastSliceAt = now;
  }

  /** A command was sent at `now`; pass what this returns to answered() when its answer comes. */
  record(now: number): Place {
    const place: Place = { sentAt: now, answeredAt: null };
    this.places.push(place);
    return place;
  }

  /**
   * The command's answer came back at `now`. `fromRouter`: the router answered it (its time
   * says how quick the job's commands are); false for a refusal, a queued or offline answer.
   */
  answered(place: Place, now: number, fromRouter: boolean): void {
    place.answeredAt = now;
    if (!fromRouter) return;
    this.latencies.push(Math.max(0, now - place.sentAt));
    if (this.latencies.length > LATENCIES) this.latencies.shift();
  }

  /**
   * When the job should next wake to send: now if a place is free; else when the first
   * place frees — or the next tick while answers are awaited, as one may free a place earlier.
   */
  nextSlot(now: number): number {
    if (this.budget(now) > 0) return now;
    const hold = this.hold();
    let next = Number.POSITIVE_INFINITY;
    for (const place of this.places) {
      next = Math.min(next, place.answeredAt === null ? now + TICK_MS : this.freesAt(place, hold));
    }
    return Number.isFinite(next) ? next : now + TICK_MS;
  }

  /** The rate an ETA can count on: what the places' turnover allows at the job's answer times. */
  expectedRate(): number {
    return keptRate(this.ratePerSecond, this.latencies);
  }

  /** Commands sent in the last second (every one still holds its place: it frees a second after at the earliest). */
  rate(now: number): number {
    this.prune(now);
    return this.places.filter((place) => place.sentAt > now - 1000).length;
  }
}
