import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * How long the HTTP API keeps an idle keep-alive connection, and how many it keeps.
 *
 * The edge reaches the broker through Cloudflare, which reuses an idle connection to an origin
 * for up to 900 s ("Proxy Idle Timeout", developers.cloudflare.com, Connection limits). Node's
 * default closes one after 5 s: a request Cloudflare sends on a connection just as the broker
 * closes it fails (a 520 or a lost connection at the edge: Rails gets `502 broker_unavailable`
 * for a command the broker never saw). Above 900 s the edge's side always closes first.
 *
 * Idle connections cost memory, so their number is bounded: beyond the bound the connection
 * idle longest is closed (an idle one carries no request, so nothing is lost; its next reuse is
 * the rare race above, only under that many idle connections). A connection that has not sent
 * a request yet counts as idle.
 */
export const KEEP_ALIVE_DEFAULTS = {
  httpKeepAliveSeconds: 905,
  httpMaxIdleConnections: 1000,
} as const;

export interface KeepAliveOptions {
  keepAliveSeconds: number;
  maxIdleConnections: number;
}

/** Sets the keep-alive timeout and bounds the idle connections of `server` (HTTP or HTTPS). */
export function applyKeepAlive(server: Server, options: KeepAliveOptions, tls: boolean): void {
  server.keepAliveTimeout = options.keepAliveSeconds * 1000;
  // Idle, oldest first (a Set iterates in insertion order). Bound: maxIdleConnections.
  const idle = new Set<Socket>();
  const markIdle = (socket: Socket) => {
    if (socket.destroyed) return;
    idle.delete(socket);
    idle.add(socket);
    while (idle.size > options.maxIdleConnections) {
      const oldest = idle.values().next().value;
      if (!oldest) break;
      idle.delete(oldest);
      oldest.destroy();
    }
  };
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    socket.once("close", () => idle.delete(socket));
    markIdle(socket);
  });
  server.on("request", (request, response) => {
    const socket = request.socket;
    idle.delete(socket);
    response.once("finish", () => markIdle(socket));
  });
}
