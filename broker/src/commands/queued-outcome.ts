import { type CommandResult, ErrorCode } from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import { encodeEvent } from "../forwarder/encoded-event.js";
import { commandResultEvent } from "./result-event.js";

/**
 * The one path by which a queued command (`queue: true`, answered 202) ends (issue 12):
 * with its device's result, or — when it ended without a device answer — with
 * `ok: false` and `command_expired` or `session_expired`. Either way exactly one
 * `command_result` event goes to the edge, in the forwarder's lane that is never
 * dropped. Whoever ends a command must first take it from the device store (an atomic
 * delete), so that of the device's node, the waiting node and the expiry sweep exactly
 * one reports it.
 */

/** Why a queued command ended without a device answer. */
export type EndedWithoutAnswer = typeof ErrorCode.CommandExpired | typeof ErrorCode.SessionExpired;

const WHY: Record<EndedWithoutAnswer, string> = {
  [ErrorCode.CommandExpired]: "the command's ttl passed before the device answered it",
  [ErrorCode.SessionExpired]: "the device's session ended (expired or revoked) before it answered",
};

/** Reports a queued command's result, already taken from the store, as its `command_result` event. */
export function reportQueuedResult(ctx: BrokerContext, deviceId: string, result: CommandResult): void {
  const encoded = encodeEvent(commandResultEvent(deviceId, ctx.clock.now(), result));
  if (encoded.ok) {
    ctx.events.pushEncoded(encoded.event);
    return;
  }
  // A result too large to travel (MAX_PAYLOAD_BYTES raised above the edge's body limit)
  // still ends the command: the caller learns why instead of waiting forever.
  ctx.logger.warn(
    { deviceId, commandId: result.id, reason: encoded.message },
    "queued command result replaced",
  );
  ctx.events.push(
    commandResultEvent(deviceId, ctx.clock.now(), {
      id: result.id,
      ok: false,
      error: {
        code: ErrorCode.PayloadTooLarge,
        message: `the device's result could not be forwarded: ${encoded.message}`,
      },
    }),
  );
}

/**
 * A queued command, already taken from the store, ended without a device answer: its
 * ttl passed (the expiry sweep), its session was reaped (the reaper) or revoked.
 */
export function endQueuedCommand(
  ctx: BrokerContext,
  deviceId: string,
  commandId: string,
  code: EndedWithoutAnswer,
): void {
  ctx.metrics.commands.inc({ outcome: code });
  ctx.logger.info({ deviceId, commandId, code }, "queued command ended without a device answer");
  reportQueuedResult(ctx, deviceId, { id: commandId, ok: false, error: { code, message: WHY[code] } });
}

/**
 * Takes every queued command of a device and ends each with `code` (revocation calls
 * this; the reaper gets the ids atomically with its claim). Resolves with how many.
 */
export async function endAllQueuedCommands(
  ctx: BrokerContext,
  deviceId: string,
  code: EndedWithoutAnswer,
): Promise<number> {
  const ids = await ctx.store.takeAllQueued(deviceId);
  for (const id of ids) endQueuedCommand(ctx, deviceId, id, code);
  return ids.length;
}

/** A device's result: if it answers a queued command this node takes, it becomes the event. */
export async function takeQueuedResult(
  ctx: BrokerContext,
  deviceId: string,
  result: CommandResult,
): Promise<boolean> {
  if (!(await ctx.store.takeQueued(deviceId, result.id))) return false;
  reportQueuedResult(ctx, deviceId, result);
  return true;
}
