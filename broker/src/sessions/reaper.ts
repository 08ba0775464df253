import { ErrorCode } from "../../../protocol/src/index.js";
import type { TimerHandle } from "../clock.js";
import { endQueuedCommand } from "../commands/queued-outcome.js";
import type { BrokerContext } from "../context.js";
import { canForget, type SessionPersistence } from "./persistence.js";

/**
 * Forgets devices that stayed offline longer than SESSION_EXPIRY_SECONDS: their
 * persistent session (subscriptions, queued messages, QoS 2 state, will), last
 * state, presence record and queued commands, and emits `presence` with reason
 * `session_expired`; each queued command ends as `command_result session_expired`. Offline-since lives in the device store (a Redis sorted set
 * in Redis mode), so expiry survives restarts; claiming a device is atomic, so
 * two nodes never reap the same one twice.
 */
export class SessionReaper {
  readonly #ctx: BrokerContext;
  readonly #persistence: SessionPersistence;
  #timer: TimerHandle | null = null;
  /** The last run; a new run starts after it, so runs never overlap and none is skipped. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(ctx: BrokerContext, persistence: SessionPersistence) {
    this.#ctx = ctx;
    this.#persistence = persistence;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = this.#ctx.clock.setInterval(() => {
      this.run().catch((error: unknown) => this.#ctx.logger.error({ err: error }, "session reaper failed"));
    }, this.#ctx.settings.reaperIntervalMs);
  }

  stop(): void {
    if (this.#timer !== null) this.#ctx.clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Reaps every session expired by now; resolves with how many were reaped. Runs are never concurrent. */
  run(): Promise<number> {
    const next = this.#last.then(
      () => this.#reapAll(),
      () => this.#reapAll(),
    );
    this.#last = next;
    return next;
  }

  async #reapAll(): Promise<number> {
    const { store, clock, settings, events, logger, metrics } = this.#ctx;
    const cutoff = clock.now() - settings.sessionExpirySeconds * 1000;
    let reaped = 0;
    for (;;) {
      const ids = await store.expired(cutoff, settings.reaperBatchSize);
      const before = reaped;
      for (const deviceId of ids) {
        const claimed = await store.claimExpired(deviceId, cutoff);
        if (!claimed) continue;
        if (canForget(this.#persistence)) await this.#persistence.forgetSession(deviceId);
        else await this.#persistence.cleanSubscriptions({ id: deviceId });
        reaped++;
        events.push({
          type: "presence",
          deviceId,
          ts: clock.now(),
          online: false,
          reason: "session_expired",
        });
        for (const commandId of claimed.queuedCommands) {
          endQueuedCommand(this.#ctx, deviceId, commandId, ErrorCode.SessionExpired);
        }
        logger.info({ deviceId, offlineSince: claimed.record.since }, "session expired");
      }
      // A full batch none of which could be claimed means other nodes are reaping it.
      if (ids.length < settings.reaperBatchSize || reaped === before) break;
    }
    const counts = await store.counts();
    metrics.sessions.set(counts.persistentSessions);
    return reaped;
  }
}
