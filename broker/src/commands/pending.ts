import type { CommandResult } from "../../../protocol/src/index.js";
import type { Clock, TimerHandle } from "../clock.js";

export type PendingOutcome =
  | { kind: "result"; result: CommandResult }
  | { kind: "timeout" }
  | { kind: "offline" };

interface Pending {
  deviceId: string;
  timer: TimerHandle;
  settle: (outcome: PendingOutcome) => void;
}

/**
 * Commands waiting for a device's result on this node. Bounded globally and per
 * device (a full table answers 429); an entry leaves on its result, its timeout,
 * the device going offline, or close().
 */
export class PendingCommands {
  /** Bound: `maxGlobal`. */
  readonly #byId = new Map<string, Pending>();
  /** Bound: one entry per device with a pending command; deleted at zero. */
  readonly #perDevice = new Map<string, Set<string>>();
  readonly #clock: Clock;
  readonly #maxGlobal: number;
  readonly #maxPerDevice: number;
  readonly #onChange: (size: number) => void;

  constructor(clock: Clock, maxGlobal: number, maxPerDevice: number, onChange: (size: number) => void) {
    this.#clock = clock;
    this.#maxGlobal = maxGlobal;
    this.#maxPerDevice = maxPerDevice;
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#byId.size;
  }

  has(commandId: string): boolean {
    return this.#byId.has(commandId);
  }

  hasRoom(deviceId: string): boolean {
    return (
      this.#byId.size < this.#maxGlobal && (this.#perDevice.get(deviceId)?.size ?? 0) < this.#maxPerDevice
    );
  }

  /** Registers a wait; the promise settles exactly once. Call hasRoom first. */
  wait(deviceId: string, commandId: string, timeoutMs: number): Promise<PendingOutcome> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => this.#settle(commandId, { kind: "timeout" }), timeoutMs);
      this.#byId.set(commandId, { deviceId, timer, settle: resolve });
      let ids = this.#perDevice.get(deviceId);
      if (!ids) {
        ids = new Set();
        this.#perDevice.set(deviceId, ids);
      }
      ids.add(commandId);
      this.#onChange(this.#byId.size);
    });
  }

  /** A result from `deviceId`; ignored unless that device owns the command. */
  resolve(deviceId: string, result: CommandResult): boolean {
    const pending = this.#byId.get(result.id);
    if (!pending || pending.deviceId !== deviceId) return false;
    this.#settle(result.id, { kind: "result", result });
    return true;
  }

  deviceOffline(deviceId: string): void {
    for (const id of [...(this.#perDevice.get(deviceId) ?? [])]) this.#settle(id, { kind: "offline" });
  }

  closeAll(): void {
    for (const id of [...this.#byId.keys()]) this.#settle(id, { kind: "offline" });
  }

  #settle(commandId: string, outcome: PendingOutcome): void {
    const pending = this.#byId.get(commandId);
    if (!pending) return;
    this.#byId.delete(commandId);
    this.#clock.clearTimeout(pending.timer);
    const ids = this.#perDevice.get(pending.deviceId);
    ids?.delete(commandId);
    if (ids?.size === 0) this.#perDevice.delete(pending.deviceId);
    this.#onChange(this.#byId.size);
    pending.settle(outcome);
  }
}
