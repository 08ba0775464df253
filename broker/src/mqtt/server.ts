import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Aedes } from "aedes";
import { type BrokerContext, refuse } from "../context.js";
import { createFrameGuard } from "./frame-guard.js";

/** Room for the topic and packet id of a PUBLISH beside its payload (our longest topic is ~150 bytes). */
const PUBLISH_HEADER_ALLOWANCE = 512;

/**
 * The MQTT listener: plain TCP, or TLS when a certificate and key are
 * configured. Each socket is handed to Aedes with a frame guard in front of the
 * parser, so an oversized packet closes the connection as soon as its header is read.
 */
export async function createMqttServer(ctx: BrokerContext, aedes: Aedes): Promise<Server> {
  const { settings } = ctx;
  const maxRemaining = settings.maxPayloadBytes + PUBLISH_HEADER_ALLOWANCE;
  const guard = createFrameGuard(maxRemaining, (socket, reason, announced) => {
    refuse(ctx, reason, { remote: socket.remoteAddress, announced, max: maxRemaining });
    socket.destroy();
  });
  const onSocket = (socket: Socket): void => {
    socket.setNoDelay(true);
    aedes.handle(socket);
    guard(socket);
  };
  if (settings.tlsCertFile && settings.tlsKeyFile) {
    const [cert, key] = await Promise.all([readFile(settings.tlsCertFile), readFile(settings.tlsKeyFile)]);
    return createTlsServer({ cert, key }, onSocket);
  }
  return createServer(onSocket);
}

/** Listens and resolves with the bound port (port 0 → an ephemeral one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}
