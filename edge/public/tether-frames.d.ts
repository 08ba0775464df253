// Hand-written types for tether-frames.js (kept in step with its JSDoc; the
// root tsconfig has no allowJs, so tests and TypeScript apps see these).

/** `^[A-Za-z0-9_-]{1,64}$` (CONTRACT.md, "Identities and secrets"). */
export const DEVICE_ID_PATTERN: RegExp;
/** Command and event names: one MQTT topic level. */
export const NAME_PATTERN: RegExp;
/** A snapshot carries at most this many recent events; extra ones are dropped. */
export const MAX_RECENT_EVENTS: 1000;

export interface ErrorInfo {
  code: string;
  message: string;
}

export interface DeviceView {
  id: string;
  online: boolean;
  since: number | null;
  lastSeen: number | null;
  state: Record<string, unknown> | null;
}

export interface StateEvent {
  type: "state";
  deviceId: string;
  ts: number;
  state: Record<string, unknown>;
}

export interface DeviceEvent {
  type: "event";
  deviceId: string;
  ts: number;
  name: string;
  data: unknown;
}

export interface PresenceEvent {
  type: "presence";
  deviceId: string;
  ts: number;
  online: boolean;
  /** "connect" | "disconnect" | "keepalive_timeout" | "takeover" | "error" | "session_expired", or a newer one. */
  reason: string;
}

/** `deviceId`/`ts` may be absent on the direct answer to this socket's own command. */
export interface CommandResultEvent {
  type: "command_result";
  deviceId?: string;
  ts?: number;
  id: string;
  ok: boolean;
  result?: unknown;
  error?: ErrorInfo;
}

export type TetherEvent = StateEvent | DeviceEvent | PresenceEvent | CommandResultEvent;

/** A device's failure to apply a desired version (issue 15). */
export interface DesiredError {
  version: number;
  code: string;
  message: string;
}

/** Desired state as the edge shows it: in the snapshot and in each `desired` frame (issue 15). */
export interface DesiredInfo {
  desired: Record<string, unknown>;
  desiredVersion: number;
  reportedDesiredVersion: number | null;
  delta: Record<string, unknown>;
  desiredError: DesiredError | null;
}

export interface DesiredFrame extends DesiredInfo {
  type: "desired";
  deviceId: string;
  ts: number;
}

export interface SnapshotFrame {
  type: "snapshot";
  device: DeviceView;
  /** Null from an edge without desired state. */
  desired: DesiredInfo | null;
  recent: TetherEvent[];
  /** Recent events refused by validation or past MAX_RECENT_EVENTS. */
  dropped: number;
}

export interface ErrorFrame {
  type: "error";
  error: ErrorInfo;
  id?: string;
}

export type ServerFrame = SnapshotFrame | TetherEvent | ErrorFrame | DesiredFrame;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function isRecord(value: unknown): value is Record<string, unknown>;
export function isDeviceId(value: unknown): value is string;
/** @example isCommandName("reboot") // true */
export function isCommandName(value: unknown): value is string;
/** Validates a device view as in the snapshot frame and `GET /v1/devices/{id}`. */
export function parseDeviceView(value: unknown): Parsed<DeviceView>;
/** Reads the desired-state fields of a device view or `desired` frame; null when absent or malformed. */
export function parseDesiredInfo(value: Record<string, unknown>): DesiredInfo | null;
/** Validates one event frame (`state`, `event`, `presence`, `command_result`). */
export function parseEvent(value: unknown): Parsed<TetherEvent>;
/**
 * Validates any server → client frame; a frame about another device than `deviceId` is refused.
 * @example
 * const parsed = parseServerFrame(JSON.parse(text), "router-1");
 * if (parsed.ok) console.log(parsed.value.type);
 */
export function parseServerFrame(value: unknown, deviceId: string): Parsed<ServerFrame>;
