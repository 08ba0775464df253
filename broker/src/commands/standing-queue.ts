import type { Clock } from "../clock.js";
import { RecencyMap } from "../limits/recency-map.js";

/**
 * Defaults of COMMAND_QUEUE_TARGET_MS and the interval. The rule is off by default (0; the
 * queueing time is still measured): on a quiet machine (`npm run bench -- --only overload`,
 * docs/BENCHMARKS.md "Overload: reading the runs", 2026-11-29 evening) a 5 ms target cut the
 * accepted p99 at 2× the knee by only 22–29 % (220 against 282 ms), refused 0.2–1 % of commands
 * at or below the knee, and a real router's answer time jitters by more than 5 ms over its
 * quickest (Wi-Fi, cellular links): it would refuse a second command to such a router. An
 * operator whose routers answer steadily can set it (5 ms, CoDel's default) and watch
 * `tether_command_queue_seconds` first.
 */
export const STANDING_QUEUE_DEFAULTS = {
  commandQueueTargetMs: 0,
  commandQueueIntervalMs: 100,
} as const;

/** A device's quickest answer is remembered over two windows of this length (BBR's min-RTT horizon). */
const BEST_WINDOW_MS = 10_000;

export interface StandingQueueOptions {
  /** Queueing time a device's commands may keep (COMMAND_QUEUE_TARGET_MS); 0 = off. */
  targetMs: number;
  /** How long every answer must have queued above the target before new commands are refused. */
  intervalMs: number;
  /** Devices tracked at most (the least recently answered beyond it are forgotten). */
  maxDevices: number;
  clock: Clock;
}

interface DeviceQueue {
  /** The device's quickest answer (ms) in the current and the previous BEST_WINDOW_MS. */
  bestNow: number;
  bestBefore: number;
  windowStart: number;
  /** While every answer has queued above the target: when that will have lasted an interval; 0 = not above. */
  aboveUntil: number;
  standing: boolean;
  lastAnswer: number;
}

/**
 * Per-device CoDel for commands (issue 17; Nichols & Jacobson, "Controlling Queue Delay",
 * 2012): what bounds an accepted command's latency is how long commands *stand* in a
 * device's queue, not how many wait. A command's queueing time is its wait for the result
 * beyond the device's quickest answer of the last 10–20 s (so a router that always takes
 * 300 ms is not "queued" 300 ms, and one that runs commands in parallel is not queued at
 * all); a command sent while its device had none pending queued behind nothing of its
 * device, so it counts 0 (when the machine, not the device's queue, is slow, the global
 * bounds act; this one must not shrink a device to one command at a time). When every answer of a device has queued longer than `targetMs` for a whole
 * `intervalMs`, the queue is standing: new commands to it are refused (429, at once) while
 * it still has one pending, until an answer comes back within the target. A burst that
 * drains within the interval passes whole; a queue that does not drain is shed.
 *
 * Time is the injected clock (ms). Bound: `maxDevices` entries (RecencyMap); an entry not
 * answered for two windows is idle and dropped first.
 */
export class StandingQueues {
  readonly #options: StandingQueueOptions;
  readonly #devices: RecencyMap<DeviceQueue>;

  constructor(options: StandingQueueOptions) {
    this.#options = options;
    const { clock } = options;
    this.#devices = new RecencyMap(
      options.maxDevices,
      (queue) => !queue.standing && clock.now() - queue.lastAnswer > 2 * BEST_WINDOW_MS,
    );
  }

  get enabled(): boolean {
    return this.#options.targetMs > 0;
  }

  get size(): number {
    return this.#devices.size;
  }

  /** True while the device's commands stand in a queue (see the class); never when off. */
  standing(deviceId: string): boolean {
    return this.enabled && (this.#devices.get(deviceId)?.standing ?? false);
  }

  /**
   * A result came back `waitedMs` after the command was sent (`alone`: its device had no
   * other command pending then); returns its queueing time (ms, beyond the device's
   * quickest answer). Measured with the rule off too: it shows what a target would act on.
   */
  answered(deviceId: string, waitedMs: number, alone = false): number {
    const now = this.#options.clock.now();
    const queue = this.#devices.touch(deviceId, () => ({
      bestNow: waitedMs,
      bestBefore: waitedMs,
      windowStart: now,
      aboveUntil: 0,
      standing: false,
      lastAnswer: now,
    }));
    if (now - queue.windowStart >= BEST_WINDOW_MS) {
      queue.bestBefore = queue.bestNow;
      queue.bestNow = waitedMs;
      queue.windowStart = now;
    } else {
      queue.bestNow = Math.min(queue.bestNow, waitedMs);
    }
    queue.lastAnswer = now;
    const queuedMs = alone ? 0 : waitedMs - Math.min(queue.bestNow, queue.bestBefore);
    this.#observe(queue, queuedMs, now);
    return queuedMs;
  }

  /** A command got no result within its timeout: it queued at least that long. */
  timedOut(deviceId: string): void {
    const queue = this.#devices.get(deviceId);
    if (queue) this.#observe(queue, Number.POSITIVE_INFINITY, this.#options.clock.now());
  }

  /** CoDel's rule: standing once the queueing time has stayed above the target for an interval. */
  #observe(queue: DeviceQueue, queuedMs: number, now: number): void {
    if (queuedMs <= this.#options.targetMs) {
      queue.aboveUntil = 0;
      queue.standing = false;
    } else if (queue.aboveUntil === 0) {
      queue.aboveUntil = now + this.#options.intervalMs;
    } else if (now >= queue.aboveUntil) {
      queue.standing = true;
    }
  }
}
