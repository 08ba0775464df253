import { ErrorCode } from "../../../protocol/src/index.js";
import { sendFrame } from "./broadcast.js";
import { errorFrame } from "./frames.js";
import { readSession } from "./socket-session.js";

/** Close codes this object uses (docs/EDGE.md, "Close codes"). */
export const CloseCode = {
  Normal: 1000,
  InternalError: 1011,
  TryAgainLater: 1013,
  /** The socket's token expired and was not renewed with an `auth` frame. */
  TokenExpired: 4401,
  /** Rails cut this user off from the device. */
  Forbidden: 4403,
} as const;

/**
 * Ends a socket for an auth reason: an `error` frame first (a browser shows the
 * close reason poorly), then the close code. Safe on a socket already closing.
 */
export function closeWithError(ws: WebSocket, closeCode: number, code: string, message: string): void {
  sendFrame(ws, errorFrame(code, message));
  try {
    ws.close(closeCode, code);
  } catch {
    // Already closed: nothing left to release.
  }
}

/** Closes every socket whose token deadline has passed (4401); returns how many. */
export function closeExpired(sockets: WebSocket[], nowMs: number): number {
  let closed = 0;
  for (const ws of sockets) {
    const session = readSession(ws);
    if (session === null || session.deadline > nowMs) continue;
    closeWithError(
      ws,
      CloseCode.TokenExpired,
      ErrorCode.TokenExpired,
      "the token expired; connect again with a fresh one",
    );
    closed++;
  }
  return closed;
}

/** The earliest deadline still ahead of `nowMs` (closed sockets may linger in the list), or null. */
export function nextDeadline(sockets: WebSocket[], nowMs: number): number | null {
  let next: number | null = null;
  for (const ws of sockets) {
    const deadline = readSession(ws)?.deadline;
    if (deadline !== undefined && deadline > nowMs && (next === null || deadline < next)) next = deadline;
  }
  return next;
}
