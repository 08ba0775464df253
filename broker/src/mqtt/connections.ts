import type { Socket } from "node:net";
import type { Client } from "aedes";
import type { PresenceReason } from "../../../protocol/src/index.js";
import { type BrokerContext, refuse } from "../context.js";
import type { OwnedConnection } from "../devices/node-liveness.js";

/** Where a connection's presence claim stands. */
const CLAIMING = 0;
const CLAIMED = 1;
/** The socket closed while the claim was still being stored; claim() releases when it lands. */
const CLOSED_WHILE_CLAIMING = 2;
/** Claimed, and Aedes has registered the client (its session is loaded, CONNACK on its way). */
const REGISTERED = 3;

/**
 * What this node remembers about one authenticated device connection. Kept to
 * three small fields (the device id is `client.id`, the node id is shared):
 * one of these per idle router is the broker's own per-connection cost.
 */
class DeviceConnection {
  /** Owner of the device's record on this node (with ctx.nodeId); a takeover replaces it. */
  readonly connId: number;
  /** Set by the keepalive and error hooks before the socket closes (first reason wins). */
  reason: PresenceReason | null = null;
  phase = CLAIMING;

  constructor(connId: number) {
    this.connId = connId;
  }
}

/** Aedes sets `conn.client` on every socket it handles (lib/client.js). */
function clientOf(socket: Socket): Client | undefined {
  const client: unknown = Reflect.get(socket, "client");
  return typeof client === "object" && client !== null ? (client as Client) : undefined;
}

/**
 * Presence of the devices connected to this node. A connection claims the
 * device's record when it authenticates; when its socket closes it releases the
 * record only if it still owns it. A newer connection with the same id (on this
 * node or another) has replaced the owner by then, so a takeover produces one
 * `presence online reason=takeover` event and no false offline.
 *
 * Why a socket 'close' listener and not Aedes's `clientDisconnect`: Aedes emits
 * that only for registered clients, and a socket that closes between
 * `authenticate` and registration (while it loads the session) never is. The
 * listener is one function shared by every socket, so it costs no closure.
 */
export class DeviceConnections {
  readonly #ctx: BrokerContext;
  /** Bound: one entry per live authenticated socket; entries die with their Aedes Client. */
  readonly #byClient = new WeakMap<Client, DeviceConnection>();
  readonly #onOffline: (deviceId: string) => void;
  readonly #onAbandonedClaim: (client: Client) => void;
  /** Offline bookkeeping still running; close() waits for it. Bound: closing sockets. */
  readonly #closing = new Set<Promise<void>>();
  /** Connection ids are unique per node; the record pairs them with the node id. */
  #nextConnId = 1;
  #shuttingDown = false;
  readonly #onSocketClose: (this: Socket) => void;

  /**
   * `onAbandonedClaim`: a connection claimed the device and closed before Aedes registered
   * it; its claim replaced any older connection's record, so that connection must be taken
   * over (closed, here and on other nodes) as registration would have done — or it would stay
   * connected while the record says offline, and no command would reach it.
   */
  constructor(
    ctx: BrokerContext,
    onOffline: (deviceId: string) => void,
    onAbandonedClaim: (client: Client) => void = () => {},
  ) {
    this.#ctx = ctx;
    this.#onOffline = onOffline;
    this.#onAbandonedClaim = onAbandonedClaim;
    const release = (client: Client) => this.#release(client);
    this.#onSocketClose = function onDeviceSocketClose(this: Socket) {
      const client = clientOf(this);
      if (client) release(client);
    };
  }

  /**
   * Called from `authenticate` once credentials are good; done when the claim is stored.
   * With a store that answers synchronously (memory mode) it returns undefined, not a
   * promise: no microtask hop on the CONNECT hot path (issue 14).
   */
  claim(client: Client): Promise<void> | undefined {
    const { store, clock, nodeId } = this.#ctx;
    const persistent = !client.clean;
    const connection = new DeviceConnection(this.#nextConnId++);
    this.#byClient.set(client, connection);
    client.conn.on("close", this.#onSocketClose);
    const now = clock.now();
    const info = { connId: connection.connId, nodeId, persistent, now };
    if (store.connectNow) {
      let wasOnline: boolean;
      try {
        wasOnline = store.connectNow(client.id, info);
      } catch (error) {
        this.#byClient.delete(client);
        throw error;
      }
      this.#claimed(client, connection, wasOnline, now);
      return undefined;
    }
    return store.connect(client.id, info).then(
      (previous) => this.#claimed(client, connection, previous?.online === true, now),
      (error: unknown) => {
        this.#byClient.delete(client);
        throw error;
      },
    );
  }

  #claimed(client: Client, connection: DeviceConnection, wasOnline: boolean, now: number): void {
    const { events, logger } = this.#ctx;
    const deviceId = client.id;
    const closedMeanwhile = connection.phase === CLOSED_WHILE_CLAIMING;
    connection.phase = CLAIMED;
    const reason: PresenceReason = wasOnline ? "takeover" : "connect";
    events.push({ type: "presence", deviceId, ts: now, online: true, reason });
    logger.info({ deviceId, reason, persistent: !client.clean }, "online");
    // The socket may have closed while the claim was in flight.
    if (closedMeanwhile || client.conn.destroyed) this.#release(client);
  }

  /** Aedes registered the client (its 'client' event): from now on a close is a plain disconnect. */
  registered(client: Client): void {
    const connection = this.#byClient.get(client);
    if (connection?.phase === CLAIMED) connection.phase = REGISTERED;
  }

  /** Records why a connection is about to close (first reason wins). */
  markReason(client: Client, reason: PresenceReason): void {
    const connection = this.#byClient.get(client);
    if (connection && connection.reason === null) connection.reason = reason;
  }

  isDevice(client: Client): boolean {
    return this.#byClient.has(client);
  }

  /** The record this connection owns, once its claim is stored (for node liveness). */
  owned(client: Client): OwnedConnection | null {
    const connection = this.#byClient.get(client);
    return connection?.phase === CLAIMED || connection?.phase === REGISTERED
      ? { deviceId: client.id, connId: connection.connId }
      : null;
  }

  #release(client: Client): void {
    const connection = this.#byClient.get(client);
    if (!connection) return;
    if (connection.phase !== CLAIMED && connection.phase !== REGISTERED) {
      connection.phase = CLOSED_WHILE_CLAIMING;
      return;
    }
    this.#byClient.delete(client);
    const task = this.#doRelease(client, connection).finally(() => this.#closing.delete(task));
    this.#closing.add(task);
  }

  async #doRelease(client: Client, connection: DeviceConnection): Promise<void> {
    const { store, clock, events, logger, nodeId } = this.#ctx;
    const deviceId = client.id;
    // Aedes sets _disconnected when the client sent DISCONNECT [MQTT-3.14.4-3]; it has no public accessor.
    const graceful = Reflect.get(client, "_disconnected") === true || this.#shuttingDown;
    const reason: PresenceReason = connection.reason ?? (graceful ? "disconnect" : "error");
    const abandoned = connection.phase !== REGISTERED && !this.#shuttingDown;
    const now = clock.now();
    try {
      const wentOffline = await store.disconnect(deviceId, { nodeId, connId: connection.connId }, now);
      if (!wentOffline) {
        logger.debug({ deviceId }, "connection replaced (takeover)");
        return;
      }
      events.push({ type: "presence", deviceId, ts: now, online: false, reason });
      logger.info({ deviceId, reason }, "offline");
      this.#onOffline(deviceId);
      if (abandoned) {
        // The record said offline now, while an older connection of the router may still be up.
        refuse(this.#ctx, "connect_abandoned", { deviceId, after: "claim" });
        this.#onAbandonedClaim(client);
      }
    } catch (error) {
      logger.error({ err: error, deviceId }, "could not record offline");
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
