/**
 * A client's `command` frame on a device channel: only with a `cmd` grant, within the
 * sockets' share of the broker's slots (CommandSlots); the broker's answer (or a failed
 * `command_result`) goes back to the sending socket.
 */
import { ErrorCode } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import type { CommandFrame } from "../schemas.js";
import { sendFrame } from "./broadcast.js";
import { relayCommand } from "./command-relay.js";
import type { CommandSlots } from "./command-slots.js";
import { failedResult } from "./frames.js";
import type { SocketSession } from "./socket-session.js";

export interface CommandFrameContext {
  env: EdgeEnv;
  slots: CommandSlots;
  now: () => number;
}

export async function onCommandFrame(
  ws: WebSocket,
  session: SocketSession,
  deviceId: string,
  frame: CommandFrame,
  { env, slots, now }: CommandFrameContext,
): Promise<void> {
  const commandId = frame.id ?? crypto.randomUUID();
  if (!session.mayCommand) {
    const message = "this token may watch the device but not command it (no cmd claim for it)";
    sendFrame(ws, failedResult(deviceId, commandId, now(), ErrorCode.Forbidden, message));
    return;
  }
  const slot = slots.take(session.user);
  if (!slot.ok) {
    sendFrame(ws, failedResult(deviceId, commandId, now(), ErrorCode.RateLimited, slot.message));
    return;
  }
  try {
    sendFrame(ws, await relayCommand(env, deviceId, commandId, frame, now));
  } finally {
    slots.release(session.user);
  }
}
