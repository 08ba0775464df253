import { type Duplex, PassThrough } from "node:stream";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { ErrorCode, TetherError } from "../../protocol/src/index.js";
import type { ResolvedOptions } from "./options.js";

export interface ConnectionHooks {
  /** CONNACK received. */
  onConnect(sessionPresent: boolean): void;
  onMessage(topic: string, payload: Buffer): void;
  /** The transport is gone, for whatever reason; called exactly once. */
  onClose(reason: string): void;
  onError(error: Error): void;
}

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * One connection attempt to one broker URL: a thin owner of one mqtt.js client.
 * The device makes a new one per attempt, so mqtt.js never reconnects by itself
 * (`reconnectPeriod: 0`) and never queues while offline — the device's own bounded
 * queues do that.
 */
export class Connection {
  readonly #client: MqttClient;
  // Bound: the device publishes at most `maxInFlight` at once through one connection.
  readonly #pending = new Set<Pending>();
  #closed = false;

  constructor(
    readonly url: string,
    options: ResolvedOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    const mqttOptions: IClientOptions = {
      clientId: options.deviceId,
      username: options.deviceId,
      password: options.password,
      protocolVersion: 4,
      clean: false,
      keepalive: options.keepalive,
      reconnectPeriod: 0,
      // The device's own timer (on the injected clock) fires first; this is a backstop.
      connectTimeout: options.connectTimeoutMs + 1_000,
      queueQoSZero: false,
      resubscribe: false,
      ...options.tls,
    };
    this.#client = connect(url, mqttOptions);
    disableNagle(this.#client.stream);
    this.#client.on("connect", (connack) => this.hooks.onConnect(connack.sessionPresent));
    this.#client.on("message", (topic, payload) => this.hooks.onMessage(topic, payload));
    this.#client.on("error", (error) => this.hooks.onError(error));
    this.#client.on("close", () => this.#finish("connection closed"));
  }

  get connected(): boolean {
    return !this.#closed && this.#client.connected;
  }

  /** Subscribes at QoS 1 (several topics in one SUBSCRIBE); rejects when the broker refuses one (granted QoS 128). */
  async subscribe(topics: string | string[]): Promise<void> {
    const granted = await this.#client.subscribeAsync(topics, { qos: 1 });
    const refused = granted.filter((grant) => grant.qos === 128).map((grant) => grant.topic);
    if (refused.length > 0)
      throw new TetherError(ErrorCode.Forbidden, `subscription to ${refused.join(", ")} refused`);
  }

  /** Resolves on PUBACK (QoS 1) or once written (QoS 0); rejects if the connection ends first. */
  publish(topic: string, payload: string, qos: 0 | 1, retain = false): Promise<void> {
    if (!this.connected) return Promise.reject(new Error("not connected"));
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      this.#pending.add(pending);
      this.#client.publish(topic, payload, { qos, retain }, (error) => {
        if (!this.#pending.delete(pending)) return;
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /**
   * Ends the connection: with a DISCONNECT when `graceful` (bounded by `timeoutMs`),
   * otherwise by destroying the socket.
   */
  close(graceful: boolean, timeoutMs = 2_000): Promise<void> {
    if (this.#closed && !graceful) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const stream = this.#client.stream as Duplex | undefined;
      const timer = setTimeout(() => {
        stream?.destroy();
        this.#finish("closed");
        resolve();
      }, timeoutMs);
      this.#client.end(!graceful || !this.#client.connected, {}, () => {
        clearTimeout(timer);
        this.#finish("closed");
        resolve();
      });
    });
  }

  /**
   * Takes the socket away from mqtt.js without closing it: no DISCONNECT, no FIN. The
   * caller owns the returned socket and must destroy it. Used to simulate a half-open
   * connection (issue 6); the device sees the connection as lost.
   */
  detachSocket(): Duplex | null {
    const socket = this.#client.stream as Duplex | undefined;
    if (!socket || this.#closed) return null;
    socket.unpipe();
    socket.removeAllListeners();
    socket.pause();
    // A late RST or EPIPE on an abandoned socket is expected; it must not crash the process.
    socket.on("error", () => {});
    // mqtt.js ends on a stand-in stream; its close event tears the client down.
    this.#client.stream = new PassThrough();
    this.#client.end(true);
    this.#finish("half-open (socket detached)");
    return socket;
  }

  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new Error(reason);
    for (const pending of this.#pending) pending.reject(error);
    this.#pending.clear();
    this.hooks.onClose(reason);
  }
}

/**
 * Turns Nagle's algorithm off on a TCP or TLS socket (a WebSocket stream has no such
 * switch). mqtt.js writes one packet in several chunks; with Nagle on, the chunk after
 * the first waits for the broker's delayed ACK, about 40 ms on Linux, so every command
 * result took 40+ ms to arrive. Brokers (ours too) set it on their side for the same reason.
 */
export function disableNagle(stream: unknown): void {
  if (typeof stream !== "object" || stream === null) return;
  const setNoDelay: unknown = Reflect.get(stream, "setNoDelay");
  if (typeof setNoDelay === "function") setNoDelay.call(stream, true);
}
