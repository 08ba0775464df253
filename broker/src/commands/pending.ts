import type { CommandResult } from "../../../protocol/src/index.js";
import type { Clock, TimerHandle } from "../clock.js";
import type { StandingQueues } from "./standing-queue.js";

export type PendingOutcome =
  | { kind: "result"; result: CommandResult }
  | { kind: "timeout" }
  | { kind: "offline" };

/**
 * Why a device takes no more commands now (both answered 429): `full`, the pending table's
 * hard bound (global or MAX_PENDING_PER_DEVICE); `standing_queue`, its commands have been
 * waiting beyond COMMAND_QUEUE_TARGET_MS for an interval (commands/standing-queue.ts).
 */
export type PendingRefusal = "full" | "standing_queue";

/** The message of each refusal's 429 (the router's and the HTTP front's). */
export const PENDING_REFUSALS: Record<PendingRefusal, string> = {
  full: "too many commands waiting for a result",
  standing_queue: "this device's commands are queueing beyond their target; retry later",
};

interface Pending {
  deviceId: string;
  /** clock.now() when the wait began (the command is published right after). */
  since: number;
  /** No other command of its device was pending when it began: it queued behind none. */
  alone: boolean;
  timer: TimerHandle;
  settle: (outcome: PendingOutcome) => void;
}

export interface PendingCommandsOptions {
  maxGlobal: number;
  maxPerDevice: number;
  onChange: (size: number) => void;
  /** The per-device queueing-time rule; none = only the fixed bounds. */
  queues?: StandingQueues;
  /** Each answered command's queueing time (ms), as the queues measured it. */
  onQueued?: (queuedMs: number) => void;
}

/**
 * Commands waiting for a device's result on this node. Bounded globally and per
 * device (a full table answers 429), and per device by queueing time (a standing
 * queue answers 429 too); an entry leaves on its result, its timeout, the device
 * going offline, or close().
 */
export class PendingCommands {
  /** Bound: `maxGlobal`. */
  readonly #byId = new Map<string, Pending>();
  /** Bound: one entry per device with a pending command; deleted at zero. */
  readonly #perDevice = new Map<string, Set<string>>();
  readonly #clock: Clock;
  readonly #options: PendingCommandsOptions;

  constructor(clock: Clock, options: PendingCommandsOptions) {
    this.#clock = clock;
    this.#options = options;
  }

  get size(): number {
    return this.#byId.size;
  }

  has(commandId: string): boolean {
    return this.#byId.has(commandId);
  }

  /** Why `deviceId` takes no command now, or null when it has room. */
  refusal(deviceId: string): PendingRefusal | null {
    const waiting = this.#perDevice.get(deviceId)?.size ?? 0;
    if (this.#byId.size >= this.#options.maxGlobal || waiting >= this.#options.maxPerDevice) return "full";
    // A queue with nothing in it does not stand: the next command is how it is measured again.
    if (waiting > 0 && this.#options.queues?.standing(deviceId)) return "standing_queue";
    return null;
  }

  /** Registers a wait; the promise settles exactly once. Call refusal() first. */
  wait(deviceId: string, commandId: string, timeoutMs: number): Promise<PendingOutcome> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => this.#settle(commandId, { kind: "timeout" }), timeoutMs);
      let ids = this.#perDevice.get(deviceId);
      const alone = !ids;
      this.#byId.set(commandId, { deviceId, since: this.#clock.now(), alone, timer, settle: resolve });
      if (!ids) {
        ids = new Set();
        this.#perDevice.set(deviceId, ids);
      }
      ids.add(commandId);
      this.#options.onChange(this.#byId.size);
    });
  }

  /** A result from `deviceId`; ignored unless that device owns the command. */
  resolve(deviceId: string, result: CommandResult): boolean {
    const pending = this.#byId.get(result.id);
    if (!pending || pending.deviceId !== deviceId) return false;
    const queuedMs = this.#options.queues?.answered(
      deviceId,
      this.#clock.now() - pending.since,
      pending.alone,
    );
    if (queuedMs !== undefined) this.#options.onQueued?.(queuedMs);
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
    if (outcome.kind === "timeout") this.#options.queues?.timedOut(pending.deviceId);
    this.#byId.delete(commandId);
    this.#clock.clearTimeout(pending.timer);
    const ids = this.#perDevice.get(pending.deviceId);
    ids?.delete(commandId);
    if (ids?.size === 0) this.#perDevice.delete(pending.deviceId);
    this.#options.onChange(this.#byId.size);
    pending.settle(outcome);
  }
}
