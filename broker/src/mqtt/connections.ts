import { randomUUID } from "node:crypto";
import type { Client } from "aedes";
import type { PresenceReason } from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";

interface DeviceConnection {
  deviceId: string;
  connId: string;
  persistent: boolean;
  /** Set by the keepalive and error hooks before the socket closes. */
  reason: PresenceReason | null;
  /** The presence claim; the close handler waits for it so an early close never leaves a stale "online". */
  claimed: Promise<boolean>;
}

/**
 * Presence of the devices connected to this node. A connection claims the
 * device's record when it authenticates; when its socket closes it releases the
 * record only if it still owns it. A newer connection with the same id (on this
 * node or another) has replaced the owner by then, so a takeover produces one
 * `presence online reason=takeover` event and no false offline.
 */
export class DeviceConnections {
  readonly #ctx: BrokerContext;
  /** Bound: one entry per live authenticated socket; entries die with their Aedes Client. */
  readonly #byClient = new WeakMap<Client, DeviceConnection>();
  readonly #onOffline: (deviceId: string) => void;
  /** Offline bookkeeping still running; close() waits for it. Bound: closing sockets. */
  readonly #closing = new Set<Promise<void>>();
  #shuttingDown = false;

  constructor(ctx: BrokerContext, onOffline: (deviceId: string) => void) {
    this.#ctx = ctx;
    this.#onOffline = onOffline;
  }

  /** Called from `authenticate` once credentials are good; resolves when the claim is stored. */
  async claim(client: Client): Promise<void> {
    const { store, clock, nodeId, events } = this.#ctx;
    const connection: DeviceConnection = {
      deviceId: client.id,
      connId: randomUUID(),
      persistent: !client.clean,
      reason: null,
      claimed: Promise.resolve(false),
    };
    const now = clock.now();
    const claimed = store
      .connect(connection.deviceId, {
        connId: connection.connId,
        nodeId,
        persistent: connection.persistent,
        now,
      })
      .then((previous) => {
        const reason: PresenceReason = previous?.online ? "takeover" : "connect";
        events.push({ type: "presence", deviceId: connection.deviceId, ts: now, online: true, reason });
        this.#ctx.logger.info(
          { deviceId: connection.deviceId, reason, persistent: connection.persistent },
          "online",
        );
        return true;
      });
    connection.claimed = claimed.catch(() => false);
    this.#byClient.set(client, connection);
    client.conn.once("close", () => this.#release(client));
    await claimed;
    // The socket may have closed while the claim was in flight, before 'close' had a listener.
    if (client.conn.destroyed) this.#release(client);
  }

  /** Records why a connection is about to close (first reason wins). */
  markReason(client: Client, reason: PresenceReason): void {
    const connection = this.#byClient.get(client);
    if (connection && connection.reason === null) connection.reason = reason;
  }

  isDevice(client: Client): boolean {
    return this.#byClient.has(client);
  }

  #release(client: Client): void {
    const connection = this.#byClient.get(client);
    if (!connection) return;
    this.#byClient.delete(client);
    const task = this.#doRelease(client, connection).finally(() => this.#closing.delete(task));
    this.#closing.add(task);
  }

  async #doRelease(client: Client, connection: DeviceConnection): Promise<void> {
    const { store, clock, events, logger } = this.#ctx;
    if (!(await connection.claimed)) return;
    // Aedes sets _disconnected when the client sent DISCONNECT [MQTT-3.14.4-3]; it has no public accessor.
    const graceful = Reflect.get(client, "_disconnected") === true || this.#shuttingDown;
    const reason: PresenceReason = connection.reason ?? (graceful ? "disconnect" : "error");
    const now = clock.now();
    try {
      const wentOffline = await store.disconnect(connection.deviceId, connection.connId, now);
      if (!wentOffline) {
        logger.debug({ deviceId: connection.deviceId }, "connection replaced (takeover)");
        return;
      }
      events.push({ type: "presence", deviceId: connection.deviceId, ts: now, online: false, reason });
      logger.info({ deviceId: connection.deviceId, reason }, "offline");
      this.#onOffline(connection.deviceId);
    } catch (error) {
      logger.error({ err: error, deviceId: connection.deviceId }, "could not record offline");
    }
  }

  /** Marks every later close as a graceful shutdown and waits for pending offline bookkeeping. */
  beginShutdown(): void {
    this.#shuttingDown = true;
  }

  async settle(): Promise<void> {
    while (this.#closing.size > 0) await Promise.allSettled([...this.#closing]);
  }
}
