import { readFile } from "node:fs/promises";
import type { Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";

export interface HttpServerOptions {
  /** PEM files; with both, the API is served over HTTPS (HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE). */
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
}

/**
 * The Node server of the HTTP API: plain HTTP, or HTTPS when a certificate and
 * key are configured — the edge reaches the broker over the internet, with the
 * broker's bearer token in every request.
 */
export async function createHttpServer(app: Hono, options: HttpServerOptions): Promise<HttpServer> {
  if (options.tlsCertFile && options.tlsKeyFile) {
    const [cert, key] = await Promise.all([readFile(options.tlsCertFile), readFile(options.tlsKeyFile)]);
    return createAdaptorServer({
      fetch: app.fetch,
      createServer: createHttpsServer,
      serverOptions: { cert, key },
    }) as unknown as HttpServer;
  }
  return createAdaptorServer({ fetch: app.fetch }) as HttpServer;
}
