import { randomUUID } from "node:crypto";
import type { Aedes } from "aedes";
import {
  COMMAND_LIMITS,
  type Command,
  type CommandRequest,
  type CommandResult,
  ErrorCode,
  errorBody,
  topics,
} from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import type { SessionPersistence } from "../sessions/persistence.js";
import { EndedWaits } from "./ended-waits.js";
import { PENDING_REFUSALS, type PendingCommands } from "./pending.js";
import { takeQueuedResult } from "./queued-outcome.js";
import { ResultHandoff } from "./result-handoff.js";

/** How long after a 202 a late result of a formerly synchronous wait is still caught (see ResultHandoff). */
const HANDOFF_GRACE_MS = 2_000;
/** How long a command answered 504/409 is remembered, so that its late result is logged as such. */
const ENDED_WAIT_TTL_MS = 10 * 60_000;

/** `Retry-After` of a 429: a pending slot frees within a command's timeout, a queued one much later. */
const PENDING_RETRY_AFTER_SECONDS = 1;
const QUEUED_RETRY_AFTER_SECONDS = 30;

export interface CommandReply {
  status: 200 | 202 | 400 | 403 | 409 | 429 | 504;
  body: unknown;
  /** Set on every 429 (sent as `Retry-After`). */
  retryAfterSeconds?: number;
}

/**
 * Sends commands to devices (CONTRACT.md "Broker HTTP API"): publishes the
 * command QoS 1 on `devices/{id}/commands` (through Aedes, so in Redis mode it
 * reaches the node the device is on and lands in its persistent session), waits
 * for the result in the bounded pending table, and answers 200 / 504 / 409 / 202
 * / 429. A queued command is recorded in the device store so that its later
 * result becomes a `command_result` event on the device's node; one that expires
 * first ends as `command_expired` (commands/queued-expiry.ts). Its ttl is clamped to
 * SESSION_EXPIRY_SECONDS: the session that holds it lasts no longer.
 */
export class CommandRouter {
  readonly #ctx: BrokerContext;
  readonly #aedes: Aedes;
  readonly #persistence: SessionPersistence;
  readonly #pending: PendingCommands;
  readonly #handoff: ResultHandoff;
  readonly #ended: EndedWaits;

  constructor(ctx: BrokerContext, aedes: Aedes, persistence: SessionPersistence, pending: PendingCommands) {
    this.#ctx = ctx;
    this.#aedes = aedes;
    this.#persistence = persistence;
    this.#pending = pending;
    this.#handoff = new ResultHandoff(ctx.clock, ctx.settings.maxPendingCommands, HANDOFF_GRACE_MS, (d, r) =>
      this.#lateResult(d, r),
    );
    this.#ended = new EndedWaits(ctx.settings.maxPendingCommands, ENDED_WAIT_TTL_MS);
  }

  /**
   * A result heard on the bus that no local wait took: a handoff may catch it
   * (see ResultHandoff); if it is the result of a command this node answered
   * 504/409, it is logged and counted as late (rate-limited).
   */
  unclaimedResult(deviceId: string, result: CommandResult): void {
    if (this.#handoff.offer(deviceId, result)) return;
    const ended = this.#ended.take(result.id);
    if (!ended || ended.deviceId !== deviceId) return;
    const { metrics, logs, clock } = this.#ctx;
    metrics.unmatchedResults.inc({ kind: "late" });
    logs.notices.record("late_result", {
      deviceId,
      commandId: result.id,
      answered: ended.outcome === "timeout" ? "504 timeout" : "409 device_offline",
      lateByMs: clock.now() - ended.endedAt,
      hint: "a router answers within timeoutMs, on the connection that received the command",
    });
  }

  /** Stops catching late results (broker close). */
  close(): void {
    this.#handoff.closeAll();
  }

  async send(deviceId: string, request: CommandRequest): Promise<CommandReply> {
    const { clock, store, metrics } = this.#ctx;
    const timeoutMs = request.timeoutMs ?? COMMAND_LIMITS.timeoutMs.default;
    const queue = request.queue ?? false;
    const ttlMs = Math.min(
      request.ttlMs ?? COMMAND_LIMITS.ttlMs.default,
      this.#ctx.settings.sessionExpirySeconds * 1000,
    );
    const id = request.id ?? randomUUID();
    if (this.#pending.has(id)) {
      return {
        status: 400,
        body: errorBody(ErrorCode.InvalidRequest, "a command with this id is pending", id),
      };
    }
    const now = clock.now();
    const expiresAt = now + (queue ? ttlMs : timeoutMs);
    const command: Command = { id, name: request.name, params: request.params ?? null, expiresAt };

    // A revoked device gets nothing, not even a queued command for after its revocation is lifted.
    const [revoked, record] = await Promise.all([store.isRevoked(deviceId), store.get(deviceId)]);
    if (revoked) {
      metrics.commands.inc({ outcome: "revoked" });
      return { status: 403, body: errorBody(ErrorCode.Revoked, "the device's credential is revoked", id) };
    }
    if (!record?.online) {
      if (!queue) return this.#offline(id, "device is offline");
      return this.#enqueue(command, deviceId, now);
    }
    const refusal = this.#pending.refusal(deviceId);
    if (refusal) {
      metrics.commands.inc({ outcome: "rate_limited" });
      if (refusal === "standing_queue") metrics.commandsQueueRefused.inc();
      return {
        status: 429,
        body: errorBody(ErrorCode.RateLimited, PENDING_REFUSALS[refusal], id),
        retryAfterSeconds: PENDING_RETRY_AFTER_SECONDS,
      };
    }
    const outcome = this.#pending.wait(deviceId, id, timeoutMs);
    await this.#publish(deviceId, command);
    const settled = await outcome;
    if (settled.kind === "result") return this.#answered(settled.result);
    if (queue) {
      const reply = await this.#queueAfterWait(command, deviceId);
      if (reply) return reply;
    }
    this.#ended.record(id, { deviceId, outcome: settled.kind, endedAt: clock.now() });
    if (settled.kind === "offline") return this.#offline(id, "device went offline before answering");
    metrics.commands.inc({ outcome: "timeout" });
    return {
      status: 504,
      body: errorBody(ErrorCode.Timeout, `no result within ${timeoutMs} ms`, id),
    };
  }

  #answered(result: CommandResult): CommandReply {
    this.#ctx.metrics.commands.inc({ outcome: result.ok ? "ok" : "failed" });
    return { status: 200, body: result };
  }

  /**
   * The wait of a `queue: true` command ended without a result: it is still in the
   * device's session (if it has one), so record it as queued and its result becomes
   * a command_result event. A result that lands meanwhile is caught by the handoff:
   * answered here with 200, unless the device's node already sent it as an event.
   * Null when there is no session to hold it.
   */
  async #queueAfterWait(command: Command, deviceId: string): Promise<CommandReply | null> {
    const { clock, settings, store } = this.#ctx;
    const catching = this.#handoff.open(command.id, deviceId);
    let reply: CommandReply | null = null;
    try {
      if (await this.#hasSession(deviceId)) {
        reply = await this.#recordQueued(command, deviceId, clock.now(), settings.maxQueuedPerDevice);
      }
    } catch (error) {
      this.#handoff.close(command.id);
      throw error;
    }
    const early = this.#handoff.result(command.id);
    if (early) {
      this.#handoff.close(command.id);
      // Exactly one of this node and the device's node removes the queued record and reports the result.
      if (reply?.status !== 202 || (await store.takeQueued(deviceId, command.id)))
        return this.#answered(early);
      return reply;
    }
    if (catching && reply?.status === 202) this.#handoff.linger(command.id);
    else this.#handoff.close(command.id);
    return reply;
  }

  /** A result that landed just after a 202: it becomes the event, unless the device's node sent it. */
  #lateResult(deviceId: string, result: CommandResult): void {
    takeQueuedResult(this.#ctx, deviceId, result).catch((error: unknown) =>
      this.#ctx.logger.error({ err: error, deviceId }, "could not record a late command result"),
    );
  }

  #offline(id: string, message: string): CommandReply {
    this.#ctx.metrics.commands.inc({ outcome: "offline" });
    return { status: 409, body: errorBody(ErrorCode.DeviceOffline, message, id) };
  }

  async #enqueue(command: Command, deviceId: string, now: number): Promise<CommandReply> {
    // Queuing needs a persistent session to hold the command; without one it would be lost silently.
    if (!(await this.#hasSession(deviceId))) {
      return this.#offline(command.id, "device is offline and has no persistent session to queue into");
    }
    const reply = await this.#recordQueued(command, deviceId, now, this.#ctx.settings.maxQueuedPerDevice);
    if (reply.status === 202) await this.#publish(deviceId, command);
    return reply;
  }

  async #recordQueued(command: Command, deviceId: string, now: number, max: number): Promise<CommandReply> {
    const { store, metrics } = this.#ctx;
    if (!(await store.addQueued(deviceId, command.id, command.expiresAt, now, max))) {
      metrics.commands.inc({ outcome: "rate_limited" });
      return {
        status: 429,
        body: errorBody(ErrorCode.RateLimited, `device already has ${max} queued commands`, command.id),
        retryAfterSeconds: QUEUED_RETRY_AFTER_SECONDS,
      };
    }
    metrics.commands.inc({ outcome: "queued" });
    return { status: 202, body: { id: command.id, queued: true, expiresAt: command.expiresAt } };
  }

  async #hasSession(deviceId: string): Promise<boolean> {
    const subs = await this.#persistence.subscriptionsByTopic(topics.commands(deviceId));
    return subs.some((sub) => sub.clientId === deviceId);
  }

  #publish(deviceId: string, command: Command): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#aedes.publish(
        {
          cmd: "publish",
          topic: topics.commands(deviceId),
          payload: Buffer.from(JSON.stringify(command)),
          qos: 1,
          retain: false,
          dup: false,
        },
        (error?: Error) => (error ? reject(error) : resolve()),
      );
    });
  }
}
