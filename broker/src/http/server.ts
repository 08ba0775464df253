import { readFile } from "node:fs/promises";
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { getRequestListener } from "@hono/node-server";

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
  if (options.tlsCertFile && options.tlsKeyFile) {
    const [cert, key] = await Promise.all([readFile(options.tlsCertFile), readFile(options.tlsKeyFile)]);
    return createHttpsServer({ cert, key }, listener) as unknown as HttpServer;
  }
  return createServer(listener);
}
