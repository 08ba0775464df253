import type { Aedes, Client } from "aedes";
import { type BrokerContext, type RefusalReason, refuse } from "../context.js";
import type { ConnectionAdmission } from "../limits/admission.js";
import { clip } from "../logging/clip.js";
import type { DeviceConnections } from "./connections.js";

/** Maps Aedes's error messages to refusal reasons worth counting. */
function reasonOf(message: string): RefusalReason | null {
  if (message === "connect did not arrive in time") return "connect_timeout";
  if (message === "topic has too many levels") return "topic_depth";
  if (message.startsWith("Invalid") || message.includes("malformed") || message.includes("Malformed")) {
    return "malformed_packet";
  }
  if (message === "Client queue limit reached") return "queue_limit";
  return null;
}

/**
 * Listens to Aedes's connection events: keeps the connections gauge, records
 * why a device connection is closing (for its presence event), and counts
 * protocol-level refusals (connect timeout, malformed packets).
 */
export function watchClientErrors(
  ctx: BrokerContext,
  aedes: Aedes,
  connections: DeviceConnections,
  admission: ConnectionAdmission,
): void {
  const { metrics, logger } = ctx;
  const updateGauge = () => metrics.connections.set(aedes.connectedClients);
  aedes.on("client", updateGauge);
  aedes.on("clientDisconnect", updateGauge);

  aedes.on("keepaliveTimeout", (client: Client) => {
    connections.markReason(client, "keepalive_timeout");
    logger.info({ deviceId: client.id }, "keepalive timeout");
  });
  aedes.on("clientError", (client: Client, error: Error) => {
    connections.markReason(client, "error");
    const reason = reasonOf(error.message);
    if (reason === "malformed_packet" && client.conn && !connections.isDevice(client))
      admission.failed(client.conn);
    // Before authentication `client.id` is whatever the CONNECT said: refuse() and clip() cut it.
    if (reason) refuse(ctx, reason, { deviceId: client.id, message: error.message });
    else logger.debug({ deviceId: clip(client.id), message: clip(error.message) }, "client error");
  });
  aedes.on("connectionError", (client: Client, error: Error) => {
    const reason = reasonOf(error.message);
    // Garbage before any CONNECT is counted against the address like bad credentials.
    if (reason === "malformed_packet" && client.conn) admission.failed(client.conn);
    if (reason) refuse(ctx, reason, { message: error.message });
    else logger.debug({ message: clip(error.message) }, "connection error");
  });
}
