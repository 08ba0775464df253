import type { Duplex } from "node:stream";
import { ErrorCode, isRecord, TetherError, topics } from "../../protocol/src/index.js";
import { Backoff } from "./backoff.js";
import { CommandDispatcher, type CommandHandler, type CommandHandlerOptions } from "./command-dispatcher.js";
import { Connection } from "./connection.js";
import { DesiredApplier, type DesiredHandler } from "./desired-applier.js";
import { assertCommandName, assertStateFits, encodeEvent } from "./device-checks.js";
import type {
  DeviceEvents,
  DeviceStats,
  DeviceStatus,
  EmitOptions,
  ReportStateOptions,
} from "./device-types.js";
import { detachSocketKey } from "./fault-injection.js";
import { type DeviceOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { Outbox } from "./outbox.js";
import { ResultCache } from "./result-cache.js";
import { StateReporter } from "./state-reporter.js";
import { TypedEmitter } from "./typed-emitter.js";
import { waitOnline } from "./wait-online.js";

export type {
  DeviceEvents,
  DeviceStats,
  DeviceStatus,
  EmitOptions,
  ReportStateOptions,
} from "./device-types.js";

/**
 * A router's link to Tether: keeps one persistent MQTT session alive, runs command
 * handlers, publishes state and events. Create it with `connectDevice`.
 *
 * @example
 *   const device = connectDevice({ deviceId: "router-0", password, url: "mqtt://broker:1883" });
 *   device.command("ping", () => ({ pong: true }));
 *   device.on("online", () => device.reportState({ firmware: "1.2.3" }));
 */
export class Device extends TypedEmitter<DeviceEvents> {
  readonly id: string;
  readonly #options: ResolvedOptions;
  readonly #backoff: Backoff;
  readonly #state = new StateReporter();
  readonly #dispatcher: CommandDispatcher;
  readonly #outbox: Outbox;
  readonly #desired: DesiredApplier;
  #connection: Connection | null = null;
  #status: DeviceStatus = "connecting";
  #attempts = 0;
  #connectTimer: unknown;
  #retryTimer: unknown;
  #stableTimer: unknown;
  #closing: Promise<void> | null = null;
  readonly #counts = { connects: 0, disconnects: 0, errors: 0 };

  /** Validates `options` (throws `invalid_request`) and starts connecting in the background. */
  constructor(options: DeviceOptions) {
    super();
    this.#options = resolveOptions(options);
    this.id = this.#options.deviceId;
    this.#backoff = new Backoff(this.#options.backoff, this.#options.random);
    const onError = (error: Error) => this.#reportError(error);
    this.#outbox = new Outbox({ ...this.#options, deviceId: this.id, state: this.#state, onError });
    this.#dispatcher = new CommandDispatcher({
      clock: this.#options.clock,
      cache: new ResultCache(this.#options.resultCacheSize),
      defaultTimeoutMs: this.#options.commandTimeoutMs,
      maxConcurrent: this.#options.maxConcurrentCommands,
      maxPayloadBytes: this.#options.maxPayloadBytes,
      publish: (id, payload) => this.#outbox.addResult(id, payload),
      reportError: onError,
    });
    this.#desired = new DesiredApplier({
      report: (partial) => this.reportState(partial),
      reportError: onError,
    });
    this.#connect();
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  /** A copy of the state as the device last reported it. */
  get state(): Record<string, unknown> {
    return this.#state.state;
  }

  /**
   * Registers the handler of command `name`. It gets `params` and `{ signal, id, name,
   * expiresAt }` and returns the result (or a Promise of it); a throw becomes
   * `handler_error`, overrunning `timeoutMs` becomes `handler_timeout` and aborts `signal`.
   *
   * @example
   *   device.command("reboot", async (params, { signal }) => {
   *     await firmware.reboot({ signal });
   *     return { rebooting: true };
   *   }, { timeoutMs: 5_000 });
   */
  command(name: string, handler: CommandHandler, options?: CommandHandlerOptions): this {
    assertCommandName(name);
    this.#dispatcher.register(name, handler, options);
    return this;
  }

  /**
   * Registers the desired-state handler (issue 15). It gets the whole desired object and
   * `{ version, signal }`; once it resolves, the SDK reports `desiredVersion: version`
   * with the state (an object the handler resolves with is merged into the state too);
   * a throw reports `desiredError: {version, code, message}`. One version runs at a
   * time: the same version is never applied twice at once, and a newer version aborts
   * `signal` and supersedes the running one. A document that arrived before the handler
   * was registered is applied at once.
   *
   * @example
   *   device.onDesired(async (desired, { version, signal }) => {
   *     await wifi.configure(desired.wifi, { signal });
   *     return { wifi: desired.wifi }; // reported as applied, with desiredVersion
   *   });
   */
  onDesired(handler: DesiredHandler): this {
    this.#desired.setHandler(handler);
    return this;
  }

  /**
   * Reports state: merged into the local state (top-level keys) unless `replace`, then
   * published retained at QoS 1. While offline only the latest state is kept.
   *
   * @example
   *   device.reportState({ wifi: { ssid: "home" } });
   *   device.reportState({ uptime: 42 }); // state is now { wifi: {...}, uptime: 42 }
   *   device.reportState({ uptime: 0 }, { replace: true }); // state is now { uptime: 0 }
   */
  reportState(state: Record<string, unknown>, options: ReportStateOptions = {}): void {
    this.#assertOpen();
    if (!isRecord(state)) throw new TetherError(ErrorCode.InvalidRequest, "state must be a JSON object");
    const payload = this.#state.report(state, options.replace === true);
    assertStateFits(payload, this.#options.maxPayloadBytes);
    this.#outbox.pump();
  }

  /**
   * Publishes an event on `devices/{id}/events/{eventName}` (QoS 1 by default). While
   * offline, events wait in a bounded queue; the oldest are dropped and counted.
   *
   * @example
   *   device.emit("client_joined", { mac: "aa:bb:cc:dd:ee:ff" });
   *   device.emit("heartbeat", { load: 0.3 }, { qos: 0 });
   */
  emit(eventName: string, data?: unknown, options: EmitOptions = {}): void {
    this.#assertOpen();
    const payload = encodeEvent(eventName, data, this.#options.maxPayloadBytes);
    this.#outbox.addEvent(topics.event(this.id, eventName), payload, options.qos ?? 1);
  }

  /**
   * Resolves when the device is online (at once if it is); rejects if it closes first.
   *
   * @example
   *   await device.whenOnline();
   */
  whenOnline(): Promise<void> {
    return waitOnline(this);
  }

  /** Counters and queue sizes, for health pages and tests. */
  stats(): DeviceStats {
    return {
      status: this.#status,
      ...this.#counts,
      connectAttempts: this.#attempts,
      ...this.#dispatcher.stats(),
      ...this.#outbox.stats(),
      ...this.#desired.stats(),
    };
  }

  /**
   * Ends everything the device started: timers, the socket (with a DISCONNECT when
   * online), running handlers (their signals abort). Queued events are discarded.
   *
   * @example
   *   process.on("SIGTERM", () => device.close().then(() => process.exit(0)));
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const wasOnline = this.#status === "online";
    this.#status = "closed";
    this.#clearTimers();
    this.#dispatcher.abortAll("device closed");
    this.#desired.abort("device closed");
    this.#outbox.clear();
    const connection = this.#connection;
    this.#connection = null;
    this.#closing = (connection ? connection.close(wasOnline) : Promise.resolve()).then(() => {
      if (wasOnline) this.fire("offline", { reason: "closed" });
    });
    return this.#closing;
  }

  /** See fault-injection.ts: hands the live socket over without closing it. */
  [detachSocketKey](): Duplex | null {
    return this.#connection?.detachSocket() ?? null;
  }

  #connect(): void {
    this.#retryTimer = undefined;
    const urls = this.#options.urls;
    const url = urls[this.#attempts % urls.length] ?? urls[0] ?? "";
    this.#attempts++;
    this.#status = this.#counts.connects === 0 && this.#attempts === 1 ? "connecting" : "reconnecting";
    const connection: Connection = new Connection(url, this.#options, {
      onConnect: (sessionPresent) => this.#onConnect(connection, sessionPresent),
      onMessage: (topic, payload) => {
        if (this.#connection !== connection) return;
        if (topic === topics.commands(this.id)) this.#dispatcher.receive(payload);
        else if (topic === topics.desired(this.id)) this.#desired.receive(payload);
      },
      onClose: (reason) => this.#onClose(connection, reason),
      onError: (error) => {
        if (this.#connection === connection) this.#reportError(error);
      },
    });
    this.#connection = connection;
    this.#connectTimer = this.#options.clock.setTimeout(() => {
      this.#reportError(new TetherError(ErrorCode.Timeout, `no CONNACK from ${url} in time`));
      void connection.close(false);
    }, this.#options.connectTimeoutMs);
  }

  #onConnect(connection: Connection, sessionPresent: boolean): void {
    if (this.#connection !== connection) return;
    this.#options.clock.clearTimeout(this.#connectTimer);
    // Subscribing even when the session is present costs one packet and survives a
    // broker that lost its sessions (a restart without Redis); and the broker sends the
    // latest desired document on every subscribe to its topic.
    connection.subscribe([topics.commands(this.id), topics.desired(this.id)]).then(
      () => {
        if (this.#connection !== connection || !connection.connected) return;
        this.#status = "online";
        this.#counts.connects++;
        this.#stableTimer = this.#options.clock.setTimeout(
          () => this.#backoff.reset(),
          this.#options.backoff.resetAfterMs,
        );
        this.#outbox.attach(connection);
        this.fire("online", { url: connection.url, sessionPresent });
      },
      (error: Error) => {
        if (this.#connection !== connection) return;
        this.#reportError(error);
        void connection.close(false);
      },
    );
  }

  #onClose(connection: Connection, reason: string): void {
    if (this.#connection !== connection || this.#status === "closed") return;
    this.#connection = null;
    this.#clearTimers();
    this.#outbox.detach();
    const wasOnline = this.#status === "online";
    if (wasOnline) this.#counts.disconnects++;
    const attempt = this.#backoff.attempt;
    const delayMs = this.#backoff.next();
    const urls = this.#options.urls;
    this.#status = "reconnecting";
    this.#retryTimer = this.#options.clock.setTimeout(() => this.#connect(), delayMs);
    if (wasOnline) this.fire("offline", { reason });
    this.fire("reconnecting", { attempt, delayMs, url: urls[this.#attempts % urls.length] ?? "" });
  }

  #clearTimers(): void {
    const { clock } = this.#options;
    clock.clearTimeout(this.#connectTimer);
    clock.clearTimeout(this.#retryTimer);
    clock.clearTimeout(this.#stableTimer);
    this.#connectTimer = this.#retryTimer = this.#stableTimer = undefined;
  }

  #reportError(error: Error): void {
    this.#counts.errors++;
    // An unhandled "error" would crash a router over one bad packet; without a
    // listener the error is only counted (stats().errors).
    if (this.listenerCount("error") > 0) this.fire("error", error);
  }

  #assertOpen(): void {
    if (this.#status === "closed") throw new TetherError(ErrorCode.DeviceOffline, "device is closed");
  }
}

/**
 * Creates a device and starts connecting in the background; listen for `online`.
 *
 * @example
 *   import { connectDevice } from "./device-sdk/src/index.js";
 *   const device = connectDevice({
 *     deviceId: "router-0",
 *     password: process.env.TETHER_PASSWORD ?? "",
 *     urls: ["mqtts://a.broker.example:8883", "mqtts://b.broker.example:8883"],
 *     keepalive: 30,
 *   });
 *   device.command("ping", () => ({ pong: true }));
 *   device.on("online", () => console.log("online"));
 *   device.on("error", (error) => console.warn(error.message));
 */
export function connectDevice(options: DeviceOptions): Device {
  return new Device(options);
}
