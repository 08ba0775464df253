// @ts-check
/**
 * Application-level keepalive. `ping` goes out every `intervalMs`; the edge
 * answers `pong` without waking the Durable Object. If no frame at all
 * arrives within `timeoutMs` of a ping, the socket is dead (NAT dropped it,
 * the phone slept) and `onDead` runs, rather than waiting minutes for TCP.
 */
export class Heartbeat {
  #intervalMs;
  #timeoutMs;
  #setTimeout;
  #clearTimeout;
  /** One ping timer and one deadline at most: no growth. */
  /** @type {unknown} */ #pingTimer;
  /** @type {unknown} */ #deadline;

  /**
   * @param {{ intervalMs: number, timeoutMs: number,
   *   setTimeout: (callback: () => void, ms: number) => unknown, clearTimeout: (handle: unknown) => void }} options
   */
  constructor(options) {
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#setTimeout = options.setTimeout;
    this.#clearTimeout = options.clearTimeout;
  }

  /**
   * Starts pinging; `onDead` runs once if a ping goes unanswered.
   * @example heartbeat.start(() => ws.send("ping"), () => dropSocket());
   * @param {() => void} sendPing
   * @param {(waitedMs: number) => void} onDead
   */
  start(sendPing, onDead) {
    this.stop();
    const tick = () => {
      sendPing();
      if (this.#deadline === undefined) {
        this.#deadline = this.#setTimeout(() => {
          this.stop();
          onDead(this.#timeoutMs);
        }, this.#timeoutMs);
      }
      this.#pingTimer = this.#setTimeout(tick, this.#intervalMs);
    };
    this.#pingTimer = this.#setTimeout(tick, this.#intervalMs);
  }

  /** Any frame proves the socket is alive. */
  alive() {
    if (this.#deadline === undefined) return;
    this.#clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  stop() {
    this.alive();
    if (this.#pingTimer === undefined) return;
    this.#clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}
