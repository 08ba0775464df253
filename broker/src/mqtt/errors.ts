import type { Aedes, Client } from "aedes";
import { type BrokerContext, refuse } from "../context.js";
import type { DeviceConnections } from "./connections.js";

/** Maps Aedes's error messages to refusal reasons worth counting. */
function reasonOf(message: string): string | null {
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
export function watchClientErrors(ctx: BrokerContext, aedes: Aedes, connections: DeviceConnections): void {
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
    if (reason) refuse(ctx, reason, { deviceId: client.id, message: error.message });
    else logger.debug({ deviceId: client.id, err: error }, "client error");
  });
  aedes.on("connectionError", (_client: Client, error: Error) => {
    const reason = reasonOf(error.message);
    if (reason) refuse(ctx, reason, { message: error.message });
    else logger.debug({ err: error }, "connection error");
  });
}
