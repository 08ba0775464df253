import { randomUUID } from "node:crypto";
import type { Aedes } from "aedes";
import {
  COMMAND_LIMITS,
  type Command,
  type CommandRequest,
  ErrorCode,
  errorBody,
  topics,
} from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import type { SessionPersistence } from "../sessions/persistence.js";
import type { PendingCommands } from "./pending.js";

export interface CommandReply {
  status: 200 | 202 | 409 | 429 | 504;
  body: unknown;
}

/**
 * Sends commands to devices (CONTRACT.md "Broker HTTP API"): publishes the
 * command QoS 1 on `devices/{id}/commands` (through Aedes, so in Redis mode it
 * reaches the node the device is on and lands in its persistent session), waits
 * for the result in the bounded pending table, and answers 200 / 504 / 409 / 202
 * / 429. A queued command is recorded in the device store so that its later
 * result becomes a `command_result` event on the device's node.
 */
export class CommandRouter {
  readonly #ctx: BrokerContext;
  readonly #aedes: Aedes;
  readonly #persistence: SessionPersistence;
  readonly #pending: PendingCommands;

  constructor(ctx: BrokerContext, aedes: Aedes, persistence: SessionPersistence, pending: PendingCommands) {
    this.#ctx = ctx;
    this.#aedes = aedes;
    this.#persistence = persistence;
    this.#pending = pending;
  }

  async send(deviceId: string, request: CommandRequest): Promise<CommandReply> {
    const { clock, store, metrics, settings } = this.#ctx;
    const timeoutMs = request.timeoutMs ?? COMMAND_LIMITS.timeoutMs.default;
    const queue = request.queue ?? false;
    const ttlMs = request.ttlMs ?? COMMAND_LIMITS.ttlMs.default;
    const id = randomUUID();
    const now = clock.now();
    const expiresAt = now + (queue ? ttlMs : timeoutMs);
    const command: Command = { id, name: request.name, params: request.params ?? null, expiresAt };

    const record = await store.get(deviceId);
    if (!record?.online) {
      if (!queue) return this.#offline(id, "device is offline");
      return this.#enqueue(command, deviceId, now);
    }
    if (!this.#pending.hasRoom(deviceId)) {
      metrics.commands.inc({ outcome: "rate_limited" });
      return {
        status: 429,
        body: errorBody(ErrorCode.RateLimited, "too many commands waiting for a result", id),
      };
    }
    const outcome = this.#pending.wait(deviceId, id, timeoutMs);
    await this.#publish(deviceId, command);
    const settled = await outcome;
    if (settled.kind === "result") {
      metrics.commands.inc({ outcome: settled.result.ok ? "ok" : "failed" });
      return { status: 200, body: settled.result };
    }
    if (queue) {
      // Still in the device's session (if it has one): its result arrives as a command_result event.
      if (await this.#hasSession(deviceId)) {
        return this.#recordQueued(command, deviceId, clock.now(), settings.maxQueuedPerDevice);
      }
    }
    if (settled.kind === "offline") return this.#offline(id, "device went offline before answering");
    metrics.commands.inc({ outcome: "timeout" });
    return {
      status: 504,
      body: errorBody(ErrorCode.Timeout, `no result within ${timeoutMs} ms`, id),
    };
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
