import { type DeviceView, errorBody, type TetherEvent } from "../../../protocol/src/index.js";

/** Server → client frames (CONTRACT.md, "Edge HTTP and WebSocket API"). */
export interface SnapshotFrame {
  type: "snapshot";
  device: DeviceView;
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

export type ServerFrame = SnapshotFrame | ErrorFrame | CommandResultFrame | TetherEvent;

export function snapshotFrame(device: DeviceView, recent: TetherEvent[]): SnapshotFrame {
  return { type: "snapshot", device, recent };
}

export function errorFrame(code: string, message: string, id?: string): ErrorFrame {
  return { type: "error", ...errorBody(code, message, id) };
}
