/**
 * Capped exponential backoff with full jitter ("Exponential Backoff And Jitter",
 * AWS Architecture Blog, 2015): `delay = random() * min(maxDelayMs, initialDelayMs * multiplier^attempt)`.
 * Full jitter rather than a fixed period so that a fleet dropped by one broker restart
 * does not come back in lockstep (mqtt.js's own `reconnectPeriod` would).
 */
export interface BackoffOptions {
  /** Upper bound of the first delay, ms (default 1000). */
  initialDelayMs: number;
  /** No delay is ever longer than this, ms (default 30000). */
  maxDelayMs: number;
  /** Growth of the upper bound per failed attempt (default 2). */
  multiplier: number;
  /** A connection that stays up this long resets the attempt count, ms (default 30000). */
  resetAfterMs: number;
}

/**
 * The defaults: first retry within 1 s, doubling, never more than 30 s apart, reset
 * after 30 s of stable connection.
 *
 * @example
 *   connectDevice({ deviceId, password, url, backoff: { ...DEFAULT_BACKOFF, maxDelayMs: 60_000 } });
 */
export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 2,
  resetAfterMs: 30_000,
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry), in whole ms.
 * `random` returns a number in [0, 1).
 *
 * @example
 *   backoffDelay(0, DEFAULT_BACKOFF, () => 0.5); // 500
 *   backoffDelay(10, DEFAULT_BACKOFF, () => 0.5); // 15000 (capped at 30000, halved by jitter)
 */
export function backoffDelay(
  attempt: number,
  options: Pick<BackoffOptions, "initialDelayMs" | "maxDelayMs" | "multiplier">,
  random: () => number,
): number {
  // Past ~60 doublings the power is Infinity anyway; clamp so the math stays finite.
  const exponent = Math.min(Math.max(0, attempt), 64);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}

/**
 * The attempt counter of one device: `next()` yields the next delay and counts the
 * attempt, `reset()` starts over after a stable connection.
 *
 * @example
 *   const backoff = new Backoff(DEFAULT_BACKOFF, Math.random);
 *   setTimeout(reconnect, backoff.next());
 */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number,
  ) {}

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    const delay = backoffDelay(this.#attempt, this.options, this.random);
    this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
