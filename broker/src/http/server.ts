import { readFile } from "node:fs/promises";
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { getRequestListener } from "@hono/node-server";
import { timingSafeEqual } from "../../../protocol/src/index.js";
import { applyKeepAlive, KEEP_ALIVE_DEFAULTS, type KeepAliveOptions } from "./keep-alive.js";

/** What the server serves: a Hono app's `fetch`. */
interface FetchApp {
  fetch: (request: Request) => Response | Promise<Response>;
}

export interface HttpServerOptions {
  /** PEM files; with both, the API is served over HTTPS (HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE). */
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  /** Runs first on every request; true = it answered (admission control, http/shed.ts). */
  front?: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** Idle keep-alive connections: how long and how many (HTTP_KEEPALIVE_SECONDS, HTTP_MAX_IDLE_CONNECTIONS). */
  keepAlive?: Omit<KeepAliveOptions, "trusted">;
  /** The token the edge sends: connections that carried it are the last idle ones closed. */
  brokerApiToken?: string;
}

/**
 * The Node server of the HTTP API: plain HTTP, or HTTPS when a certificate and
 * key are configured — the edge reaches the broker over the internet, with the
 * broker's bearer token in every request.
 */
export async function createHttpServer(app: FetchApp, options: HttpServerOptions): Promise<HttpServer> {
  const hono = getRequestListener(app.fetch);
  const front = options.front;
  const listener = front
    ? (request: IncomingMessage, response: ServerResponse) => {
        if (!front(request, response)) void hono(request, response);
      }
    : hono;
  const expected = options.brokerApiToken ? `Bearer ${options.brokerApiToken}` : undefined;
  const keepAlive: KeepAliveOptions = {
    keepAliveSeconds: options.keepAlive?.keepAliveSeconds ?? KEEP_ALIVE_DEFAULTS.httpKeepAliveSeconds,
    maxIdleConnections: options.keepAlive?.maxIdleConnections ?? KEEP_ALIVE_DEFAULTS.httpMaxIdleConnections,
    ...(expected
      ? {
          trusted: (request: IncomingMessage) =>
            timingSafeEqual(request.headers.authorization ?? "", expected),
        }
      : {}),
  };
  if (options.tlsCertFile && options.tlsKeyFile) {
    const [cert, key] = await Promise.all([readFile(options.tlsCertFile), readFile(options.tlsKeyFile)]);
    const server = createHttpsServer({ cert, key }, listener) as unknown as HttpServer;
    applyKeepAlive(server, keepAlive, true);
    return server;
  }
  const server = createServer(listener);
  applyKeepAlive(server, keepAlive, false);
  return server;
}
