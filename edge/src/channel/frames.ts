import { type DeviceView, errorBody, type TetherEvent } from "../../../protocol/src/index.js";
import type { DesiredView } from "./desired-state.js";

/** Server → client frames (CONTRACT.md, "Edge HTTP and WebSocket API"). */
export interface SnapshotFrame {
  type: "snapshot";
  device: DeviceView & DesiredView;
  recent: TetherEvent[];
}

export interface ErrorFrame {
  type: "error";
  id?: string;
  error: { code: string; message: string };
}

/** The answer to a client `command` frame, to that socket only; `id` is the frame's id. */
export interface CommandResultFrame {
  type: "command_result";
  id: string;
  deviceId: string;
  ts: number;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

/** The answer to an accepted `auth` frame: the socket now lives until `exp` (+ the leeway). */
export interface AuthAcceptedFrame {
  type: "auth";
  ok: true;
  exp: number;
  /** Whether the new token lets this socket command the device. */
  mayCommand: boolean;
}

/** Desired state changed (a patch) or the device acknowledged a version (issue 15). */
export interface DesiredFrame extends DesiredView {
  type: "desired";
  deviceId: string;
  ts: number;
}

export type ServerFrame =
  | SnapshotFrame
  | ErrorFrame
  | CommandResultFrame
  | AuthAcceptedFrame
  | DesiredFrame
  | TetherEvent;

export function snapshotFrame(device: DeviceView & DesiredView, recent: TetherEvent[]): SnapshotFrame {
  return { type: "snapshot", device, recent };
}

/** A command that did not run (refused by the edge or the broker), as its one `command_result`. */
export function failedResult(
  deviceId: string,
  commandId: string,
  ts: number,
  code: string,
  message: string,
): CommandResultFrame {
  return { type: "command_result", id: commandId, deviceId, ts, ok: false, error: { code, message } };
}

export function errorFrame(code: string, message: string, id?: string): ErrorFrame {
  return { type: "error", ...errorBody(code, message, id) };
}
