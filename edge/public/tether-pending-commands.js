// @ts-check
/**
 * Commands sent and awaiting their `command_result`. The owner of the map:
 * entries leave on result, on timeout and on `rejectAll` (socket closed).
 */
import { TetherClientError } from "./tether-client-error.js";

/** @typedef {import("./tether-frames.js").CommandResultEvent} CommandResultEvent */
/**
 * @typedef {{ resolve: (frame: CommandResultEvent) => void, reject: (error: TetherClientError) => void,
 *   timer: unknown }} PendingCommand
 */

export class PendingCommands {
  /** At most `#max` entries (`add` refuses beyond). */
  /** @type {Map<string, PendingCommand>} */ #pending = new Map();
  #max;
  #setTimeout;
  #clearTimeout;

  /**
   * @param {number} max
   * @param {(callback: () => void, ms: number) => unknown} setTimer
   * @param {(handle: unknown) => void} clearTimer
   */
  constructor(max, setTimer, clearTimer) {
    this.#max = max;
    this.#setTimeout = setTimer;
    this.#clearTimeout = clearTimer;
  }

  get size() {
    return this.#pending.size;
  }

  get full() {
    return this.#pending.size >= this.#max;
  }

  /**
   * Registers `id`; the promise rejects with `timeout` after `waitMs` unless settled first.
   * @example const result = pending.add("c1", 12_000, "reboot");
   * @param {string} id
   * @param {number} waitMs
   * @param {string} name for the timeout message
   * @returns {Promise<CommandResultEvent>}
   */
  add(id, waitMs, name) {
    return new Promise((resolve, reject) => {
      const timer = this.#setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new TetherClientError("timeout", `no result for ${name} within ${waitMs} ms`, { commandId: id }),
        );
      }, waitMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  /**
   * Resolves `frame.id` if it is ours; false for another socket's or a late result.
   * @param {CommandResultEvent} frame
   */
  resolve(frame) {
    const entry = this.#take(frame.id);
    entry?.resolve(frame);
    return entry !== undefined;
  }

  /**
   * @param {string} id
   * @param {TetherClientError} error
   */
  reject(id, error) {
    const entry = this.#take(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** @param {string} code @param {string} message */
  rejectAll(code, message) {
    for (const id of [...this.#pending.keys()]) {
      this.reject(id, new TetherClientError(code, message, { commandId: id }));
    }
  }

  /** @param {string} id */
  #take(id) {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    this.#clearTimeout(entry.timer);
    return entry;
  }
}

/**
 * Command ids. crypto.randomUUID needs a secure context; getRandomValues does
 * not (a console opened over plain http on a LAN address).
 * @example commandId() // "3b241101-e2bb-4255-8caf-4136c566a962"
 * @returns {string}
 */
export function commandId() {
  const cryptoApi = globalThis.crypto;
  if (typeof cryptoApi?.randomUUID === "function") return cryptoApi.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof cryptoApi?.getRandomValues === "function") cryptoApi.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
