import type { AdaptiveLimit } from "./adaptive-limit.js";

/**
 * Defaults of MAX_COMMANDS_IN_FLIGHT and MAX_EVENT_LOOP_LAG_MS, sized from `npm run bench --
 * --only overload` (docs/BENCHMARKS.md, "Overload"; BROKER.md, "Admission control").
 */
export const ADMISSION_DEFAULTS = {
  maxCommandsInFlight: 2_000,
  maxEventLoopLagMs: 50,
  commandLatencyTolerance: 2,
} as const;

/**
 * Why a command was shed; the `reason` of `tether_commands_shed_total`. `latency`: the
 * adaptive limit (limits/adaptive-limit.ts), lowered while the commands' times rose, is full.
 */
export type ShedReason = "in_flight" | "latency" | "event_loop_lag";

export interface CommandAdmissionOptions {
  /** Commands this node has admitted and not yet answered (MAX_COMMANDS_IN_FLIGHT). */
  maxInFlight: number;
  /** Shed while the event loop's lag (the queueing time) is above this (MAX_EVENT_LOOP_LAG_MS); 0 = off. */
  maxLagMs: number;
  /** The current event-loop lag in ms (limits/event-loop-lag.ts). */
  lagMs: () => number;
  /** Each change of the in-flight count (the `tether_commands_in_flight` gauge). */
  onChange?: (inFlight: number) => void;
  /** The in-flight limit that follows latency (COMMAND_LATENCY_TOLERANCE), below `maxInFlight`. */
  adaptive?: AdaptiveLimit;
}

/**
 * Admission control of the broker's command API (issue 17): a command is admitted
 * only while fewer than `maxInFlight` are in flight on this node, fewer than the
 * adaptive limit (which falls while admitted commands slow down), and the event
 * loop's lag is at most `maxLagMs`; otherwise it is refused at once (503
 * `overloaded`, with `Retry-After`), before its body is read. A server past its
 * knee that queues everything answers everyone late; one that sheds the excess
 * keeps serving what it admits at the latency of a server below its knee.
 *
 * The count is a plain number (no collection): `admit()` adds one, the `release`
 * it returns takes it back exactly once, when the answer has been written.
 */
export class CommandAdmission {
  readonly #options: CommandAdmissionOptions;
  #inFlight = 0;

  constructor(options: CommandAdmissionOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * A release function when admitted; the reason when shed. `release(served)`: only a command
   * that was served (a 2xx) tells the adaptive limit its time. A caller without the token is
   * admitted too (this runs before the token is checked), and its 401 comes back in well under
   * a millisecond: counted, a stranger's flood would pull the baseline down to that, and the
   * real commands after it would read as congestion and be shed.
   */
  admit(): { admitted: true; release: (served?: boolean) => void } | { admitted: false; reason: ShedReason } {
    const { maxInFlight, maxLagMs, lagMs, adaptive } = this.#options;
    if (this.#inFlight >= maxInFlight) return { admitted: false, reason: "in_flight" };
    if (adaptive && this.#inFlight >= adaptive.limit) return { admitted: false, reason: "latency" };
    if (maxLagMs > 0 && lagMs() > maxLagMs) return { admitted: false, reason: "event_loop_lag" };
    this.#inFlight++;
    this.#options.onChange?.(this.#inFlight);
    const admittedAt = adaptive?.admitted(this.#inFlight) ?? 0;
    let released = false;
    return {
      admitted: true,
      release: (served = false) => {
        if (released) return;
        released = true;
        if (served) adaptive?.answered(admittedAt, this.#inFlight);
        this.#inFlight--;
        this.#options.onChange?.(this.#inFlight);
      },
    };
  }
}
