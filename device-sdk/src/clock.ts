/**
 * Time as the SDK sees it. Injected so that backoff, command expiry and handler
 * timeouts can be tested without sleeping (STYLE.md, "time and randomness are injected").
 *
 * @example
 *   const skewed: Clock = { ...systemClock, now: () => Date.now() + 3_600_000 };
 *   connectDevice({ deviceId, password, url, clock: skewed });
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: `Date.now` and the global timers. Timers are not unref'd on purpose:
 * a device waiting to reconnect should keep its process alive.
 *
 * @example
 *   const device = connectDevice({ deviceId, password, url, clock: systemClock });
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
