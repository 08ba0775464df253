// @ts-check
/**
 * What a TetherClient sends on its open socket: a `desired` frame (a merge patch) and a
 * `command` frame whose `command_result` is awaited in PendingCommands. The checks come
 * in the client's documented order: the frame itself, then the connection, then the
 * pending bound.
 */
import { TetherClientError } from "./tether-client-error.js";
import { encodeCommandFrame } from "./tether-command-frame.js";
import { isRecord } from "./tether-frames.js";

/**
 * @typedef {import("./tether-client-options.js").WebSocketLike} WebSocketLike
 * @typedef {import("./tether-frames.js").CommandResultEvent} CommandResultEvent
 * @typedef {{ ws: WebSocketLike | null, state: string }} SendTarget
 */

/**
 * @param {SendTarget & { randomUUID: () => string }} target the id is drawn only once the frame may go
 * @param {Record<string, unknown>} patch
 * @param {{ ifVersion?: number }} options
 */
export function sendDesiredFrame(target, patch, options) {
  if (!isRecord(patch)) throw new TetherClientError("invalid_request", "a merge patch must be a JSON object");
  const { ws, state } = target;
  if (ws === null || state !== "open") {
    throw new TetherClientError("not_connected", `not connected (${state})`);
  }
  const frame = {
    type: "desired",
    id: target.randomUUID(),
    patch,
    ...(options.ifVersion === undefined ? {} : { ifVersion: options.ifVersion }),
  };
  ws.send(JSON.stringify(frame));
}

/**
 * @param {SendTarget & { id: string, pending: import("./tether-pending-commands.js").PendingCommands,
 *   config: { commandTimeoutMs: number, commandGraceMs: number } }} target
 * @param {string} name
 * @param {unknown} params
 * @param {number | undefined} timeoutMs
 * @returns {Promise<CommandResultEvent>}
 */
export function sendCommandFrame(target, name, params, timeoutMs) {
  const { ws, state, id, pending, config } = target;
  const encoded = encodeCommandFrame(id, name, params, timeoutMs);
  if (!encoded.ok) return Promise.reject(encoded.error);
  if (ws === null || state !== "open") {
    return Promise.reject(new TetherClientError("not_connected", `not connected (${state})`));
  }
  if (pending.full) {
    const message = `${pending.size} commands already await a result`;
    return Promise.reject(new TetherClientError("rate_limited", message));
  }
  const waitMs = (timeoutMs ?? config.commandTimeoutMs) + config.commandGraceMs;
  const result = pending.add(id, waitMs, name);
  try {
    ws.send(encoded.text);
  } catch (cause) {
    pending.reject(id, new TetherClientError("not_connected", "send failed", { cause, commandId: id }));
  }
  return result;
}
