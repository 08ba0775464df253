// @ts-check
/** Options of TetherClient: defaults, validation, and the injected platform pieces. */
import { TetherClientError } from "./tether-client-error.js";
import { deviceSocketUrl } from "./tether-connection-policy.js";
import { commandId } from "./tether-pending-commands.js";

/**
 * @typedef {{ readonly readyState: number, send(data: string): void, close(code?: number, reason?: string): void,
 *   onopen: ((event: never) => void) | null, onmessage: ((event: never) => void) | null,
 *   onclose: ((event: never) => void) | null, onerror: ((event: never) => void) | null }} WebSocketLike
 * @typedef {new (url: string, protocols: string[]) => WebSocketLike} WebSocketConstructor
 * @typedef {{ baseUrl: string, deviceId: string, token: string | (() => string | Promise<string>),
 *   WebSocket?: WebSocketConstructor, random?: () => number, randomUUID?: () => string,
 *   setTimeout?: (callback: () => void, ms: number) => unknown, clearTimeout?: (handle: never) => void }
 *   & Partial<Record<keyof typeof CLIENT_DEFAULTS, number>>} TetherClientOptions
 */

/** Tunables; each can be overridden in the options (documented in tether-client.d.ts). */
export const CLIENT_DEFAULTS = Object.freeze({
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  stableMs: 10_000,
  pingIntervalMs: 30_000,
  pongTimeoutMs: 10_000,
  maxFailedOpens: 5,
  maxPending: 100,
  commandTimeoutMs: 10_000,
  commandGraceMs: 2_000,
  maxFrameChars: 1_048_576,
});

/**
 * Validates the options once (throws `invalid_request`) and fills in the platform defaults.
 * @example const { url, config } = resolveClientOptions({ baseUrl: "https://edge.example", deviceId: "r1", token });
 * @param {TetherClientOptions} options
 */
export function resolveClientOptions(options) {
  const url = deviceSocketUrl(options.baseUrl, options.deviceId);
  const { token } = options;
  if (typeof token !== "function" && (typeof token !== "string" || token === "")) {
    throw new TetherClientError("invalid_request", "token must be a non-empty string or a function");
  }
  const WebSocket =
    options.WebSocket ?? /** @type {WebSocketConstructor | undefined} */ (globalThis.WebSocket);
  if (typeof WebSocket !== "function") {
    throw new TetherClientError("invalid_request", "no WebSocket here: pass options.WebSocket");
  }
  // Called as plain functions: a browser's setTimeout throws when `this` is not the window.
  const setTimer = options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms));
  const clearTimer = /** @type {(handle: unknown) => void} */ (
    options.clearTimeout ?? ((handle) => globalThis.clearTimeout(/** @type {number} */ (handle)))
  );
  /** @type {Record<keyof typeof CLIENT_DEFAULTS, number>} */
  const config = { ...CLIENT_DEFAULTS };
  for (const key of /** @type {(keyof typeof CLIENT_DEFAULTS)[]} */ (Object.keys(CLIENT_DEFAULTS))) {
    const value = options[key];
    if (value === undefined) continue;
    if (!(value >= 0)) throw new TetherClientError("invalid_request", `${key} must be >= 0`);
    config[key] = value;
  }
  return {
    url,
    token,
    WebSocket,
    random: options.random ?? Math.random,
    randomUUID: options.randomUUID ?? commandId,
    /** @type {(callback: () => void, ms: number) => unknown} */
    setTimeout: (callback, ms) => setTimer(callback, ms),
    /** @type {(handle: unknown) => void} */
    clearTimeout: (handle) => clearTimer(handle),
    config,
  };
}
