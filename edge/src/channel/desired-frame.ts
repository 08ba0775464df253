import { ErrorCode } from "../../../protocol/src/index.js";
import type { DesiredClientFrame } from "../schemas.js";
import { sendFrame } from "./broadcast.js";
import type { DesiredState } from "./desired-state.js";
import { errorFrame } from "./frames.js";
import type { SocketSession } from "./socket-session.js";

/**
 * A client's `desired` frame (issue 15): only with the `cmd` right for the device. A
 * change reaches every socket as a `desired` frame (this one included); a patch that
 * changes nothing is answered with the current `desired` frame to this socket; a
 * refusal with an `error` frame carrying the frame's `id`.
 */
export async function onDesiredFrame(
  ws: WebSocket,
  session: SocketSession,
  frame: DesiredClientFrame,
  desired: DesiredState,
): Promise<void> {
  if (!session.mayCommand) {
    const message = "this token may watch the device but not change its desired state (no cmd claim for it)";
    sendFrame(ws, errorFrame(ErrorCode.Forbidden, message, frame.id));
    return;
  }
  const outcome = await desired.patch(frame.patch, frame.ifVersion ?? null);
  if (!outcome.ok) sendFrame(ws, errorFrame(outcome.code, outcome.message, frame.id));
  else if (!outcome.changed) sendFrame(ws, desired.frame());
}
