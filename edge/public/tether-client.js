// @ts-check
/**
 * TetherClient: one device's live channel over `GET /v1/devices/{id}/ws`
 * (CONTRACT.md, "Edge HTTP and WebSocket API"). Plain ES modules, no build
 * step, no dependencies: a page imports this file as-is; a mobile app copies
 * the `tether-*.js` files. Types: tether-client.d.ts.
 *
 * - The JWT travels as the second `Sec-WebSocket-Protocol` value after
 *   `tether`, never in the URL, so it stays out of access logs and history.
 * - Reconnects wait random × min(maxDelayMs, baseDelayMs × 2^attempt) (full
 *   jitter: a fleet of apps does not reconnect in lockstep after an edge
 *   deploy); the attempt count resets once a connection stayed up `stableMs`.
 * - A browser cannot see the HTTP status of a refused upgrade (401/403 look
 *   like close 1006 before `open`). Close codes 1008/4401/4403, or an error
 *   message naming 401/403 (Node `ws`, React Native), stop at once as
 *   `unauthorized`; otherwise `maxFailedOpens` closes in a row before `open`
 *   stop as `auth_or_unreachable` (bad or expired token, device not in the
 *   token, or no network). `connect()` starts again, e.g. with a fresh token.
 * - A `ping` every `pingIntervalMs`, answered `pong` by the edge; silence for
 *   `pongTimeoutMs` after it drops the socket and reconnects (tether-heartbeat.js).
 */

import { dispatchServerText } from "./tether-client-dispatch.js";
import { TetherClientError } from "./tether-client-error.js";
import { resolveClientOptions } from "./tether-client-options.js";
import { sendCommandFrame, sendDesiredFrame } from "./tether-client-send.js";
import { isAuthFailure, obtainToken } from "./tether-connection-policy.js";
import { Heartbeat } from "./tether-heartbeat.js";
import { ClientListeners } from "./tether-listeners.js";
import { PendingCommands } from "./tether-pending-commands.js";
import { Reconnects } from "./tether-reconnect.js";
import { watchSocket } from "./tether-socket-events.js";

export { TetherClientError } from "./tether-client-error.js";
export { CLIENT_DEFAULTS } from "./tether-client-options.js";
export { backoffDelay, deviceSocketUrl, isAuthFailure } from "./tether-connection-policy.js";
export { isCommandName, isDeviceId, parseServerFrame } from "./tether-frames.js";

/**
 * @typedef {import("./tether-frames.js").SnapshotFrame} SnapshotFrame
 * @typedef {import("./tether-frames.js").TetherEvent} TetherEvent
 * @typedef {import("./tether-frames.js").CommandResultEvent} CommandResultEvent
 * @typedef {import("./tether-frames.js").DesiredFrame} DesiredFrame
 * @typedef {"idle" | "connecting" | "open" | "reconnecting" | "auth_or_unreachable" | "unauthorized" | "closed"} ConnectionState
 * @typedef {{ state: ConnectionState, attempt: number, delayMs?: number, code?: number, reason?: string }} StatusChange
 * @typedef {{ snapshot: SnapshotFrame, event: TetherEvent, desired: DesiredFrame, status: StatusChange,
 *   error: TetherClientError }} TetherClientEventMap
 * @typedef {import("./tether-client-options.js").WebSocketLike} WebSocketLike
 * @typedef {import("./tether-client-options.js").TetherClientOptions} TetherClientOptions
 */

const WS_CLOSING = 2;

export class TetherClient {
  /** The validated options with platform defaults (tether-client-options.js). */
  #o;
  #deviceId;
  #pending;
  #heartbeat;
  /** @type {WebSocketLike | null} */ #ws = null;
  /** Bumped whenever a socket is abandoned, so its late callbacks are ignored. */
  #generation = 0;
  /** @type {ConnectionState} */ #state = "idle";
  /** Attempt count, failed opens, retry and stable timers (tether-reconnect.js). */
  #reconnects;
  #lastErrorMessage = "";
  #listeners = new ClientListeners();

  /**
   * Validates the options (throws `invalid_request`); does not connect until `connect()`.
   * @example
   * const client = new TetherClient({ baseUrl: "https://edge.example", deviceId: "router-1", token: jwt });
   * client.on("event", (event) => console.log(event.type));
   * client.connect();
   * @param {TetherClientOptions} options
   */
  constructor(options) {
    const o = resolveClientOptions(options);
    this.#o = o;
    this.#deviceId = options.deviceId;
    this.#pending = new PendingCommands(o.config.maxPending, o.setTimeout, o.clearTimeout);
    this.#heartbeat = new Heartbeat({
      intervalMs: o.config.pingIntervalMs,
      timeoutMs: o.config.pongTimeoutMs,
      setTimeout: o.setTimeout,
      clearTimeout: o.clearTimeout,
    });
    this.#reconnects = new Reconnects(o);
  }

  /** The socket URL (never contains the token). */
  get url() {
    return this.#o.url;
  }

  get deviceId() {
    return this.#deviceId;
  }

  /** @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  /** Commands awaiting their result. */
  get pendingCount() {
    return this.#pending.size;
  }

  /**
   * Subscribes to `snapshot`, `event`, `desired`, `status` or `error`; returns the unsubscribe function.
   * @example const off = client.on("status", ({ state }) => console.log(state));
   * @template {keyof TetherClientEventMap} K
   * @param {K} type
   * @param {(payload: TetherClientEventMap[K]) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    return this.#listeners.on(type, listener);
  }

  /**
   * Opens the socket (no-op while connecting or open) and keeps it open until `close()`
   * or an auth failure; also starts again after `auth_or_unreachable` or `unauthorized`.
   * @example client.connect();
   * @returns {this}
   */
  connect() {
    if (this.#state === "connecting" || this.#state === "open" || this.#state === "reconnecting") return this;
    this.#reconnects.reset();
    this.#startOpen();
    return this;
  }

  /**
   * Closes for good: no reconnect, pending commands rejected with `connection_closed`.
   * @example client.close();
   */
  close() {
    this.#stop("closed", { code: 1000, reason: "client closed" });
  }

  /**
   * Sends a `desired` frame (issue 15): a JSON merge patch of the device's desired state,
   * only if its version is still `ifVersion` when given. Needs a token with the `cmd`
   * right. The change comes back as a `desired` event; a refusal (`forbidden`,
   * `version_conflict`, `payload_too_large`) as an `error` event.
   * @example client.sendDesired({ wifi: { ssid: "home" } }, { ifVersion: 3 });
   * @param {Record<string, unknown>} patch
   * @param {{ ifVersion?: number }} [options]
   */
  sendDesired(patch, options = {}) {
    sendDesiredFrame(
      { ws: this.#ws, state: this.#state, randomUUID: () => this.#o.randomUUID() },
      patch,
      options,
    );
  }

  /**
   * Sends a `command` frame; resolves with the `command_result` frame of the same id
   * (`ok` may be false: the command ran and failed, or the edge answered `device_offline`).
   * Rejects with a TetherClientError: `invalid_request`, `not_connected`, `rate_limited`,
   * `timeout` (nothing within timeoutMs + commandGraceMs), `connection_closed`, or the
   * code of an `error` frame naming the command.
   * @example
   * const result = await client.sendCommand("reboot", { delayS: 5 }, { timeoutMs: 5000 });
   * if (result.ok) console.log(result.result); else console.warn(result.error);
   * @param {string} name
   * @param {unknown} [params]
   * @param {{ timeoutMs?: number }} [options]
   * @returns {Promise<CommandResultEvent>}
   */
  sendCommand(name, params, options = {}) {
    const id = this.#o.randomUUID();
    const target = { ws: this.#ws, state: this.#state, id, pending: this.#pending, config: this.#o.config };
    return sendCommandFrame(target, name, params, options.timeoutMs);
  }

  async #open() {
    const generation = ++this.#generation;
    this.#setStatus({ state: "connecting", attempt: this.#reconnects.attempt });
    const token = await obtainToken(this.#o.token);
    if (generation !== this.#generation) return;
    if (!token.ok) {
      this.#emitError(token.error);
      // A throwing token function may work next time; a token that can never travel will not.
      if (token.retry) this.#onDrop(false, 1006, "token function failed");
      else this.#stop("unauthorized", { reason: "unusable token" });
      return;
    }
    let ws;
    try {
      ws = new this.#o.WebSocket(this.#o.url, ["tether", token.token]);
    } catch (cause) {
      this.#emitError(
        new TetherClientError("invalid_request", "the WebSocket constructor refused", { cause }),
      );
      this.#stop("closed", { reason: "cannot open a socket" });
      return;
    }
    this.#attach(ws, generation);
  }

  /**
   * @param {WebSocketLike} ws
   * @param {number} generation
   */
  #attach(ws, generation) {
    this.#ws = ws;
    this.#lastErrorMessage = "";
    watchSocket(ws, () => generation === this.#generation, {
      open: () => this.#onOpen(ws, generation),
      message: (data) => this.#onMessage(data),
      error: (message) => {
        this.#lastErrorMessage = message;
      },
      close: (opened, code, reason) => this.#onDrop(opened, code, reason),
    });
  }

  /** @param {WebSocketLike} ws @param {number} generation */
  #onOpen(ws, generation) {
    this.#reconnects.opened(() => generation === this.#generation);
    this.#setStatus({ state: "open", attempt: this.#reconnects.attempt });
    this.#heartbeat.start(
      () => this.#trySend(ws, "ping"),
      (waited) => {
        if (generation !== this.#generation) return;
        this.#emitError(new TetherClientError("timeout", `no pong within ${waited} ms: dropping the socket`));
        this.#onDrop(true, 4000, "heartbeat timeout");
      },
    );
  }

  /** @param {unknown} data */
  #onMessage(data) {
    this.#heartbeat.alive();
    const { maxFrameChars } = this.#o.config;
    const to = {
      deviceId: this.#deviceId,
      maxFrameChars,
      pending: this.#pending,
      listeners: this.#listeners,
    };
    dispatchServerText(data, { ...to, emitError: (error) => this.#emitError(error) });
  }

  /**
   * The socket ended (or was declared dead): retry with backoff, or stop.
   * @param {boolean} opened
   * @param {number} code
   * @param {string} reason
   */
  #onDrop(opened, code, reason) {
    this.#releaseSocket(code, reason);
    this.#pending.rejectAll("connection_closed", `connection closed (${code})`);
    const why = reason || this.#lastErrorMessage;
    if (isAuthFailure(code, this.#lastErrorMessage)) return this.#stop("unauthorized", { code, reason: why });
    if (!opened && this.#reconnects.failedOpenLimitReached()) {
      return this.#stop("auth_or_unreachable", { code, reason: why });
    }
    const delayMs = this.#reconnects.nextDelay();
    this.#setStatus({ state: "reconnecting", attempt: this.#reconnects.attempt, delayMs, code, reason });
    this.#reconnects.retryAfter(delayMs, () => this.#startOpen());
  }

  #startOpen() {
    this.#open().catch((cause) => {
      this.#emitError(new TetherClientError("internal_error", "opening the socket failed", { cause }));
    });
  }

  /**
   * @param {ConnectionState} state
   * @param {{ code?: number, reason?: string }} detail
   */
  #stop(state, detail) {
    this.#reconnects.cancelRetry();
    this.#releaseSocket(detail.code ?? 1000, detail.reason ?? "");
    this.#pending.rejectAll("connection_closed", `connection ${state}`);
    if (this.#state !== state) this.#setStatus({ state, attempt: this.#reconnects.attempt, ...detail });
  }

  /**
   * Forgets the current socket (closing it if still open) and its timers.
   * @param {number} code
   * @param {string} reason
   */
  #releaseSocket(code, reason) {
    this.#generation += 1;
    this.#heartbeat.stop();
    this.#reconnects.cancelStable();
    const ws = this.#ws;
    this.#ws = null;
    if (ws === null || ws.readyState >= WS_CLOSING) return;
    // Browsers accept only 1000 and 3000–4999 from a client.
    const closeCode = code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
    try {
      ws.close(closeCode, reason.slice(0, 120));
    } catch (cause) {
      this.#emitError(new TetherClientError("internal_error", "closing the socket failed", { cause }));
    }
  }

  /** @param {WebSocketLike} ws @param {string} text */
  #trySend(ws, text) {
    try {
      ws.send(text);
    } catch (cause) {
      this.#emitError(new TetherClientError("not_connected", "send failed", { cause }));
    }
  }

  /** @param {StatusChange} status */
  #setStatus(status) {
    this.#state = status.state;
    this.#listeners.emit("status", status);
  }

  /** @param {TetherClientError} error */
  #emitError(error) {
    this.#listeners.emit("error", error);
  }
}
