import { ErrorCode } from "../../../protocol/src/index.js";
import type { TimerHandle } from "../clock.js";
import type { BrokerContext } from "../context.js";
import { endQueuedCommand } from "./queued-outcome.js";

/**
 * A queued command is ended this long after its expiresAt, not at once: one delivered
 * just before it expired may still be answered, and its own result wins.
 */
export const QUEUED_RESULT_GRACE_MS = 2_000;
/** Commands ended per store call, so one sweep never holds Redis long. */
const SWEEP_BATCH = 500;

/**
 * Ends queued commands whose ttl passed without a device answer (issue 12): each
 * becomes `command_result ok:false command_expired`, through the same path as a real
 * result (commands/queued-outcome.ts). Runs every `commandExpiryIntervalMs`; in Redis
 * mode every node sweeps and the store's atomic take lets exactly one report each.
 */
export class QueuedCommandExpiry {
  readonly #ctx: BrokerContext;
  #timer: TimerHandle | null = null;
  /** The last run; runs never overlap. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(ctx: BrokerContext) {
    this.#ctx = ctx;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = this.#ctx.clock.setInterval(() => {
      this.run().catch((error: unknown) =>
        this.#ctx.logger.error({ err: error }, "queued command expiry failed"),
      );
    }, this.#ctx.settings.commandExpiryIntervalMs);
  }

  stop(): void {
    if (this.#timer !== null) this.#ctx.clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Ends every queued command expired (with the grace) by now; resolves with how many this node ended. */
  run(): Promise<number> {
    const next = this.#last.then(
      () => this.#sweep(),
      () => this.#sweep(),
    );
    this.#last = next;
    return next;
  }

  async #sweep(): Promise<number> {
    const { store, clock } = this.#ctx;
    const cutoff = clock.now() - QUEUED_RESULT_GRACE_MS;
    let ended = 0;
    for (;;) {
      const due = await store.expiredQueued(cutoff, SWEEP_BATCH);
      let taken = 0;
      for (const { deviceId, commandId } of due) {
        if (!(await store.takeQueued(deviceId, commandId))) continue;
        endQueuedCommand(this.#ctx, deviceId, commandId, ErrorCode.CommandExpired);
        taken++;
      }
      ended += taken;
      // A full batch none of which could be taken means other nodes are ending it.
      if (due.length < SWEEP_BATCH || taken === 0) break;
    }
    return ended;
  }
}
