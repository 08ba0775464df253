import type { CommandResult, TetherEvent } from "../../../protocol/src/index.js";

/** The `command_result` event (CONTRACT.md "Broker → edge events") for a queued command's result. */
export function commandResultEvent(deviceId: string, ts: number, r: CommandResult): TetherEvent {
  return r.ok
    ? { type: "command_result", deviceId, ts, id: r.id, ok: true, result: r.result }
    : { type: "command_result", deviceId, ts, id: r.id, ok: false, error: r.error };
}
