import { createHmac } from "node:crypto";
import WebSocket from "ws";

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/**
 * An HS256 client JWT as Rails issues it (PROTOCOL.md, "Client tokens"), watch only.
 * Each client is its own user: the edge allows one user 5 sockets per device.
 */
export function clientJwt(secret: string, sub: string, deviceIds: string[], ttlSeconds = 3_600): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const iat = Math.floor(Date.now() / 1000);
  const payload = b64url(
    JSON.stringify({ sub, iat, exp: iat + ttlSeconds, devices: deviceIds, kind: "web" }),
  );
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
 * Keeps `count` WebSocket clients watching routers through the edge. Each picks a
 * router from `deviceIds()` when it connects (slot i takes the i-th, wrapping), so
 * clients follow the fleet as it ramps up and as vanished routers are replaced; a
 * client that closes reconnects after a second, and waits while there is no router.
 * Returns stop().
 */
export function startEdgeClients(
  edgeUrl: string,
  jwtSecret: string,
  deviceIds: () => string[],
  count: number,
  tally: WsTally,
): () => void {
  let stopped = false;
  // Bound: `count` sockets, and at most `count` pending retry timers.
  const sockets = new Set<WebSocket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (slot: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      open(slot);
    }, 1_000);
    timer.unref();
    timers.add(timer);
  };
  const open = (slot: number) => {
    if (stopped) return;
    const ids = deviceIds();
    const deviceId = ids[slot % Math.max(ids.length, 1)];
    if (deviceId === undefined) {
      later(slot);
      return;
    }
    const url = `${edgeUrl.replace(/^http/, "ws")}/v1/devices/${encodeURIComponent(deviceId)}/ws`;
    // The token travels as the subprotocol after `tether`, never in the URL.
    const socket = new WebSocket(url, ["tether", clientJwt(jwtSecret, `soak-user-${slot}`, [deviceId])]);
    sockets.add(socket);
    let opened = false;
    socket.on("open", () => {
      opened = true;
      tally.open++;
    });
    socket.on("message", () => tally.frames++);
    socket.on("error", () => tally.errors++);
    socket.on("close", () => {
      sockets.delete(socket);
      // Only a socket that opened closes; one refused (the edge is down) counts as an error.
      if (opened) tally.closes++;
      later(slot);
    });
  };
  for (let slot = 0; slot < count; slot++) open(slot);
  return () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const socket of sockets) socket.terminate();
    sockets.clear();
  };
}
