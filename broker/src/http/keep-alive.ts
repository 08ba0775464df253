import type { IncomingMessage, Server } from "node:http";
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
 * Idle connections cost memory (~5 kB each), so their number is bounded, and counted apart for
 * two classes: the edge's (connections that carried the broker's token) and everyone else's
 * (strangers, and any connection that has sent nothing yet). Beyond the bound, the one idle
 * longest *of its own class* is closed (an idle one carries no request, so nothing is lost; its
 * next reuse is the rare race above). Apart, because one shared bound failed both ways: a
 * stranger opening connections faster than the edge reuses its own could push the edge's out,
 * one by one, into that race; and an edge holding the bound in idle connections of its own had
 * every new connection (its own next one too, until its first request) closed the moment it
 * was accepted, as the only stranger (found by the overload bench: "read ECONNRESET" on a new
 * connection to /metrics). So at most 2 × the bound idle connections in all.
 */
export const KEEP_ALIVE_DEFAULTS = {
  httpKeepAliveSeconds: 905,
  httpMaxIdleConnections: 1000,
} as const;

export interface KeepAliveOptions {
  keepAliveSeconds: number;
  maxIdleConnections: number;
  /** Whether a request carries the broker's token: its connection is then closed last. */
  trusted?: (request: IncomingMessage) => boolean;
}

/** Sets the keep-alive timeout and bounds the idle connections of `server` (HTTP or HTTPS). */
export function applyKeepAlive(server: Server, options: KeepAliveOptions, tls: boolean): void {
  server.keepAliveTimeout = options.keepAliveSeconds * 1000;
  // Idle connections, each Set oldest first (insertion order), each at most
  // maxIdleConnections. A socket leaves them on a request and on close.
  const strangers = new Set<Socket>();
  const edge = new Set<Socket>();
  // Connections that carried the token once (checked once per connection, not per request).
  const trusted = new WeakSet<Socket>();
  const markIdle = (socket: Socket) => {
    if (socket.destroyed) return;
    const idle = trusted.has(socket) ? edge : strangers;
    idle.delete(socket);
    idle.add(socket);
    // The socket just added is the newest of its class: with a bound of at least 1 it is never
    // the one closed.
    while (idle.size > options.maxIdleConnections) {
      const oldest = idle.values().next().value;
      if (!oldest) break;
      idle.delete(oldest);
      oldest.destroy();
    }
  };
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    socket.once("close", () => {
      strangers.delete(socket);
      edge.delete(socket);
    });
    markIdle(socket);
  });
  server.on("request", (request: IncomingMessage, response) => {
    const socket = request.socket;
    strangers.delete(socket);
    edge.delete(socket);
    if (options.trusted && !trusted.has(socket) && options.trusted(request)) trusted.add(socket);
    response.once("finish", () => markIdle(socket));
  });
}
