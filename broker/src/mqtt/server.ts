import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Aedes, Client } from "aedes";
import { type BrokerContext, refuse } from "../context.js";
import type { ConnectionAdmission } from "../limits/admission.js";
import { createFrameGuard } from "./frame-guard.js";

/** Room for the topic and packet id of a PUBLISH beside its payload (our longest topic is ~150 bytes). */
const PUBLISH_HEADER_ALLOWANCE = 512;

export interface MqttServerParts {
  /** Admits or refuses each socket before Aedes sees it. */
  admission: ConnectionAdmission;
  /** Installs the per-device publish rate limit on a new client (mqtt/publish-gate.ts). */
  gate: (client: Client) => void;
}

/** Aedes sets `conn.client` on every socket it handles (lib/client.js). */
function deviceIdOf(socket: Socket): string | undefined {
  const client: unknown = Reflect.get(socket, "client");
  const id: unknown = typeof client === "object" && client !== null ? Reflect.get(client, "id") : undefined;
  return typeof id === "string" ? id : undefined;
}

/**
 * The MQTT listener: plain TCP, or TLS when a certificate and key are
 * configured. Each socket is first admitted (limits/admission.ts), then handed
 * to Aedes with a frame guard in front of the parser, so an oversized packet
 * closes the connection as soon as its header is read, and a publish gate
 * behind it (the per-device rate limit).
 */
export async function createMqttServer(
  ctx: BrokerContext,
  aedes: Aedes,
  parts: MqttServerParts,
): Promise<Server> {
  const { settings } = ctx;
  const maxRemaining = settings.maxPayloadBytes + PUBLISH_HEADER_ALLOWANCE;
  const guard = createFrameGuard(maxRemaining, (socket, reason, announced) => {
    refuse(ctx, reason, {
      deviceId: deviceIdOf(socket),
      remote: socket.remoteAddress,
      announced,
      max: maxRemaining,
    });
    socket.destroy();
  });
  const onSocket = (socket: Socket): void => {
    const refusal = parts.admission.admit(socket);
    if (refusal) {
      refuse(ctx, refusal, { remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    parts.gate(aedes.handle(socket));
    guard(socket);
  };
  if (settings.tlsCertFile && settings.tlsKeyFile) {
    const [cert, key] = await Promise.all([readFile(settings.tlsCertFile), readFile(settings.tlsKeyFile)]);
    const server = createTlsServer({ cert, key }, onSocket);
    // Sockets still in their handshake are not admitted yet: Node's own cap bounds them too
    // (it closes extra sockets without a count; admission counts the rest).
    server.maxConnections = settings.maxConnections;
    // A TLS socket is admitted once its handshake is done; an address in cool-down,
    // or a full broker, is turned away before it costs a handshake.
    server.on("connection", (socket: Socket) => {
      const refusal = parts.admission.precheck(socket);
      if (!refusal) return;
      refuse(ctx, refusal, { remote: socket.remoteAddress });
      socket.destroy();
    });
    return server;
  }
  return createServer(onSocket);
}

/** Listens and resolves with the bound port (port 0 → an ephemeral one). */
export function listen(server: Server, port: number, host: string, backlog?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen({ port, host, ...(backlog === undefined ? {} : { backlog }) }, () => {
      server.removeListener("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}
