// @ts-check
/**
 * A TetherClient's reconnect bookkeeping: the attempt count (reset once a connection
 * stayed up `stableMs`), the closes in a row before `open` (`maxFailedOpens` stops as
 * `auth_or_unreachable`), the full-jitter backoff delay, and the one retry timer and
 * one stable timer (a handle each: they cannot pile up).
 */
import { backoffDelay } from "./tether-connection-policy.js";

/**
 * @typedef {{ config: { stableMs: number, maxFailedOpens: number, baseDelayMs: number, maxDelayMs: number },
 *   setTimeout: (fn: () => void, ms: number) => unknown, clearTimeout: (handle: unknown) => void,
 *   random: () => number }} ReconnectOptions
 */

export class Reconnects {
  /** @type {ReconnectOptions} */ #o;
  attempt = 0;
  #failedOpens = 0;
  /** @type {unknown} */ #retryTimer;
  /** @type {unknown} */ #stableTimer;

  /** @param {ReconnectOptions} options */
  constructor(options) {
    this.#o = options;
  }

  /** `connect()` starts counting again. */
  reset() {
    this.attempt = 0;
    this.#failedOpens = 0;
  }

  /** @param {() => boolean} stillCurrent whether the socket that opened is still the client's */
  opened(stillCurrent) {
    this.#failedOpens = 0;
    this.#stableTimer = this.#o.setTimeout(() => {
      if (stillCurrent()) this.attempt = 0;
    }, this.#o.config.stableMs);
  }

  /** One more close before `open`: true once they reached `maxFailedOpens` in a row. */
  failedOpenLimitReached() {
    return ++this.#failedOpens >= this.#o.config.maxFailedOpens;
  }

  /** The next attempt's delay; counts the attempt. */
  nextDelay() {
    const { baseDelayMs, maxDelayMs } = this.#o.config;
    const delayMs = backoffDelay(this.attempt, this.#o.random(), baseDelayMs, maxDelayMs);
    this.attempt += 1;
    return delayMs;
  }

  /** @param {number} delayMs @param {() => void} retry */
  retryAfter(delayMs, retry) {
    this.#retryTimer = this.#o.setTimeout(() => {
      this.#retryTimer = undefined;
      retry();
    }, delayMs);
  }

  cancelRetry() {
    if (this.#retryTimer !== undefined) this.#o.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  cancelStable() {
    if (this.#stableTimer !== undefined) this.#o.clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
  }
}
