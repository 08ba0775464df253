// @ts-check
/**
 * Where a TetherClient's incoming text goes: decoded and checked (tether-frame-decoder.js),
 * then to the `snapshot` / `desired` / `event` listeners, to the pending command it answers
 * (`command_result`, or an `error` frame naming it), or out as an `error` event.
 */
import { TetherClientError } from "./tether-client-error.js";
import { decodeServerText } from "./tether-frame-decoder.js";

/**
 * @typedef {{ deviceId: string, maxFrameChars: number,
 *   pending: import("./tether-pending-commands.js").PendingCommands,
 *   listeners: import("./tether-listeners.js").ClientListeners,
 *   emitError: (error: TetherClientError) => void }} DispatchTarget
 */

/**
 * @param {unknown} data the socket message's data
 * @param {DispatchTarget} to
 */
export function dispatchServerText(data, to) {
  const decoded = decodeServerText(data, to.deviceId, to.maxFrameChars);
  if (decoded.kind === "pong") return;
  if (decoded.kind === "refused") {
    to.emitError(decoded.error);
    return;
  }
  const { frame } = decoded;
  if (frame.type === "snapshot") {
    to.listeners.emit("snapshot", frame);
  } else if (frame.type === "desired") {
    to.listeners.emit("desired", frame);
  } else if (frame.type === "error") {
    const { code, message } = frame.error;
    const error = new TetherClientError(code, message, { source: "server", commandId: frame.id });
    if (frame.id === undefined || !to.pending.reject(frame.id, error)) to.emitError(error);
  } else {
    if (frame.type === "command_result") to.pending.resolve(frame);
    to.listeners.emit("event", frame);
  }
}
