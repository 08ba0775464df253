// Hand-written types for tether-client.js (kept in step with its JSDoc; the
// root tsconfig has no allowJs, so tests and TypeScript apps see these).
import type { CommandResultEvent, DesiredFrame, SnapshotFrame, TetherEvent } from "./tether-frames.js";

export type {
  CommandResultEvent,
  DesiredError,
  DesiredFrame,
  DesiredInfo,
  DeviceView,
  ErrorInfo,
  SnapshotFrame,
  TetherEvent,
} from "./tether-frames.js";
export { isCommandName, isDeviceId, parseServerFrame } from "./tether-frames.js";

/**
 * `connecting`: a socket is being opened; `reconnecting`: waiting `delayMs` before the next
 * attempt; `auth_or_unreachable` / `unauthorized` / `closed`: stopped until `connect()`.
 */
export type ConnectionState =
  | "idle"
  | "connecting"
  | "open"
  | "reconnecting"
  | "auth_or_unreachable"
  | "unauthorized"
  | "closed";

export interface StatusChange {
  state: ConnectionState;
  /** Reconnect attempt number (0 for the first connection after `connect()`). */
  attempt: number;
  /** For `reconnecting`: the wait before the next attempt. */
  delayMs?: number;
  /** Close code of the socket that ended, when one did. */
  code?: number;
  reason?: string;
}

export interface TetherClientEventMap {
  snapshot: SnapshotFrame;
  event: TetherEvent;
  desired: DesiredFrame;
  status: StatusChange;
  error: TetherClientError;
}

/** The part of a WebSocket (browser, React Native or Node `ws`) the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

export interface TetherClientOptions {
  /** Edge origin: `https://…`, `http://…` or `ws(s)://…`, optionally with a path prefix. */
  baseUrl: string;
  deviceId: string;
  /** JWT, or a function asked before every attempt (to refresh an expiring token). */
  token: string | (() => string | Promise<string>);
  /** Defaults to `globalThis.WebSocket`; pass `ws` in Node. */
  WebSocket?: WebSocketConstructor;
  /** In [0, 1); drives the jitter. */
  random?: () => number;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (handle: never) => void;
  /** Command ids; defaults to crypto.randomUUID (with a getRandomValues fallback off secure contexts). */
  randomUUID?: () => string;
  /** First backoff ceiling (500 ms); attempt n waits random() × min(maxDelayMs, baseDelayMs × 2ⁿ). */
  baseDelayMs?: number;
  /** Backoff cap (30 000 ms). */
  maxDelayMs?: number;
  /** A connection up this long resets the backoff (10 000 ms). */
  stableMs?: number;
  /** `ping` every this many ms (30 000). */
  pingIntervalMs?: number;
  /** No frame this long after a ping → the socket is dead (10 000 ms). */
  pongTimeoutMs?: number;
  /** This many closes before `open` in a row → `auth_or_unreachable` (5). */
  maxFailedOpens?: number;
  /** Commands awaiting a result at once (100). */
  maxPending?: number;
  /** Waited beyond a command's timeoutMs for the edge's own timeout answer (2 000 ms). */
  commandGraceMs?: number;
  /** Larger text frames are refused (1 MiB). */
  maxFrameChars?: number;
}

export const CLIENT_DEFAULTS: Readonly<{
  baseDelayMs: number;
  maxDelayMs: number;
  stableMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  maxFailedOpens: number;
  maxPending: number;
  commandTimeoutMs: number;
  commandGraceMs: number;
  maxFrameChars: number;
}>;

/**
 * An error with a wire code: the client's own (`timeout`, `not_connected`, `connection_closed`,
 * `rate_limited`, `invalid_request`, `invalid_frame`, `frame_too_large`, `token_error`,
 * `listener_error`) or the edge's, from an `error` frame (`source: "server"`).
 */
export class TetherClientError extends Error {
  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; commandId?: string | undefined; source?: "client" | "server" },
  );
  code: string;
  commandId: string | undefined;
  /** `server` for an `error` frame sent by the edge. */
  source: "client" | "server";
}

/**
 * Builds the socket URL: `${baseUrl}/v1/devices/${deviceId}/ws` on ws(s).
 * @example deviceSocketUrl("https://edge.example", "router-1") // "wss://edge.example/v1/devices/router-1/ws"
 */
export function deviceSocketUrl(baseUrl: string, deviceId: string): string;

/**
 * Capped exponential backoff with full jitter: random × min(max, base × 2^attempt).
 * @example backoffDelay(3, 0.5, 500, 30_000) // 2000
 */
export function backoffDelay(attempt: number, random: number, baseMs: number, maxMs: number): number;

/**
 * True when a socket's end says the token or device was refused (close 1008/4401/4403, or an
 * error message naming HTTP 401/403 as Node `ws` and React Native give).
 * @example isAuthFailure(1006, "Unexpected server response: 401") // true
 */
export function isAuthFailure(closeCode: number, errorMessage: string): boolean;

export class TetherClient {
  /**
   * Validates the options (throws TetherClientError `invalid_request`); does not connect until `connect()`.
   * @example
   * const client = new TetherClient({ baseUrl: "https://edge.example", deviceId: "router-1", token: jwt });
   * client.on("event", (event) => console.log(event.type));
   * client.connect();
   */
  constructor(options: TetherClientOptions);
  /** The socket URL (never contains the token). */
  get url(): string;
  get deviceId(): string;
  get state(): ConnectionState;
  /** Commands awaiting their result. */
  get pendingCount(): number;
  /**
   * Subscribes to `snapshot`, `event`, `status` or `error`; returns the unsubscribe function.
   * @example const off = client.on("status", ({ state }) => console.log(state));
   */
  on<K extends keyof TetherClientEventMap>(
    type: K,
    listener: (payload: TetherClientEventMap[K]) => void,
  ): () => void;
  /**
   * Opens the socket (no-op while connecting or open) and keeps it open until `close()` or an
   * auth failure. Also restarts after `auth_or_unreachable` / `unauthorized` / `closed`.
   * @example client.connect();
   */
  connect(): this;
  /**
   * Closes for good: no reconnect, pending commands rejected with `connection_closed`.
   * @example client.close();
   */
  close(): void;
  /**
   * Sends a `command` frame and resolves with the `command_result` frame of the same id
   * (`ok` may be false: the command ran and failed). Rejects with a TetherClientError:
   * `invalid_request`, `not_connected`, `rate_limited`, `timeout` (no answer within
   * timeoutMs + commandGraceMs), `connection_closed`, or the edge's error code.
   * @example
   * const result = await client.sendCommand("reboot", { delayS: 5 }, { timeoutMs: 5000 });
   * if (result.ok) console.log(result.result); else console.warn(result.error);
   */
  sendCommand(name: string, params?: unknown, options?: { timeoutMs?: number }): Promise<CommandResultEvent>;
  /**
   * Sends a `desired` frame: a JSON merge patch of the device's desired state (needs `cmd`),
   * only if its version is still `ifVersion` when given. The change arrives as a `desired`
   * event; a refusal as an `error` event. Throws `not_connected` when the socket is not open.
   * @example client.sendDesired({ wifi: { ssid: "home" } }, { ifVersion: 3 });
   */
  sendDesired(patch: Record<string, unknown>, options?: { ifVersion?: number }): void;
}
