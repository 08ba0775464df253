import { createHmac } from "node:crypto";
import WebSocket from "ws";

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** An HS256 client JWT as Rails issues it (CONTRACT.md, Edge WebSocket API). */
export function clientJwt(secret: string, deviceIds: string[], ttlSeconds = 3_600): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const payload = b64url(JSON.stringify({ sub: "soak-user", exp, devices: deviceIds, kind: "web" }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

export interface WsTally {
  open: number;
  frames: number;
  closes: number;
  errors: number;
}

/**
 * Keeps `count` WebSocket clients watching routers through the edge; a client
 * that closes reconnects after a second (to the same router). Returns stop().
 */
export function startEdgeClients(
  edgeUrl: string,
  jwtSecret: string,
  deviceIds: string[],
  count: number,
  tally: WsTally,
): () => void {
  let stopped = false;
  // Bound: `count` sockets.
  const sockets = new Set<WebSocket>();
  const open = (deviceId: string) => {
    if (stopped) return;
    const url = `${edgeUrl.replace(/^http/, "ws")}/v1/devices/${encodeURIComponent(deviceId)}/ws?token=${clientJwt(jwtSecret, [deviceId])}`;
    const socket = new WebSocket(url);
    sockets.add(socket);
    socket.on("open", () => tally.open++);
    socket.on("message", () => tally.frames++);
    socket.on("error", () => tally.errors++);
    socket.on("close", () => {
      sockets.delete(socket);
      tally.closes++;
      if (!stopped) setTimeout(() => open(deviceId), 1_000).unref();
    });
  };
  deviceIds.slice(0, count).forEach(open);
  return () => {
    stopped = true;
    for (const socket of sockets) socket.terminate();
    sockets.clear();
  };
}
