import type { ServerFrame } from "./frames.js";

/**
 * Sends a frame to one socket. A socket that cannot take it is closed with 1011
 * and the failure stays with that socket (PartyServer's broadcast habit).
 */
export function sendFrame(ws: WebSocket, frame: ServerFrame | string): boolean {
  try {
    ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    return true;
  } catch (error) {
    console.warn("edge: send failed, closing socket", { error: String(error) });
    try {
      ws.close(1011, "send failed");
    } catch {
      // Already closed or closing: nothing more to release.
    }
    return false;
  }
}

/** Sends one frame to every socket; returns how many took it. Serialised once. */
export function broadcast(sockets: WebSocket[], frame: ServerFrame): number {
  const text = JSON.stringify(frame);
  let delivered = 0;
  for (const ws of sockets) if (sendFrame(ws, text)) delivered++;
  return delivered;
}
