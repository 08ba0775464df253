import type { CommandResult } from "../../../protocol/src/index.js";
import type { Clock, TimerHandle } from "../clock.js";

interface Handoff {
  deviceId: string;
  /** A result that landed after the wait ended, before the router decided its answer. */
  result: CommandResult | null;
  /** Set once the router answered 202: the grace timer that ends the entry. */
  timer: TimerHandle | null;
}

/**
 * Closes the race of a `queue: true` command whose synchronous wait ends (timeout
 * or offline) just as its result lands. The result is then pending nowhere, and the
 * device's node found no queued record yet to turn it into a `command_result`
 * event (commands/router.ts writes that record only after the wait ends). So the
 * waiting node opens a handoff when the wait ends: a result heard on the bus
 * meanwhile is kept for the router, and one heard within `graceMs` after the 202
 * goes to `onLate`, which turns it into the event if the device's node did not.
 */
export class ResultHandoff {
  /** Bound: `max` (the pending-command bound); an entry lives until graceMs after its answer. */
  readonly #open = new Map<string, Handoff>();
  readonly #clock: Clock;
  readonly #max: number;
  readonly #graceMs: number;
  readonly #onLate: (deviceId: string, result: CommandResult) => void;

  constructor(
    clock: Clock,
    max: number,
    graceMs: number,
    onLate: (deviceId: string, result: CommandResult) => void,
  ) {
    this.#clock = clock;
    this.#max = max;
    this.#graceMs = graceMs;
    this.#onLate = onLate;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Starts catching results for `commandId`; false when full (the race then stays open for it). */
  open(commandId: string, deviceId: string): boolean {
    if (this.#open.size >= this.#max) return false;
    this.#open.set(commandId, { deviceId, result: null, timer: null });
    return true;
  }

  /** A result no local wait took; true if a handoff caught it. */
  offer(deviceId: string, result: CommandResult): boolean {
    const entry = this.#open.get(result.id);
    if (!entry || entry.deviceId !== deviceId || entry.result !== null) return false;
    if (entry.timer === null) {
      entry.result = result;
      return true;
    }
    this.close(result.id);
    this.#onLate(deviceId, result);
    return true;
  }

  /** The result caught so far, if any. */
  result(commandId: string): CommandResult | null {
    return this.#open.get(commandId)?.result ?? null;
  }

  /** The router answered 202: keep catching for `graceMs`, then forget the entry. */
  linger(commandId: string): void {
    const entry = this.#open.get(commandId);
    if (!entry) return;
    entry.timer = this.#clock.setTimeout(() => this.#open.delete(commandId), this.#graceMs);
  }

  close(commandId: string): void {
    const entry = this.#open.get(commandId);
    if (!entry) return;
    if (entry.timer !== null) this.#clock.clearTimeout(entry.timer);
    this.#open.delete(commandId);
  }

  closeAll(): void {
    for (const id of [...this.#open.keys()]) this.close(id);
  }
}
