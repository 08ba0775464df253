import type { Server as HttpServer } from "node:http";
import type { Aedes, Client } from "aedes";
import type { DeviceConnections } from "./mqtt/connections.js";

/** Small helpers of startBroker(): this node's device clients, and the steps of a graceful close. */

/** This node's authenticated device clients (Aedes's id → Client map is not in its type definitions). */
export function* localDeviceClients(aedes: Aedes, connections: DeviceConnections): Iterable<Client> {
  const clients: unknown = Reflect.get(aedes, "clients");
  if (typeof clients !== "object" || clients === null) return;
  for (const client of Object.values(clients)) {
    if (connections.isDevice(client as Client)) yield client as Client;
  }
}

/** Closes keep-alive connections as they go idle (answers in flight finish first), then cuts the rest. */
export async function drainHttp(server: HttpServer, closed: Promise<void>, ms: number): Promise<void> {
  let done = false;
  void closed.then(() => {
    done = true;
  });
  const deadline = Date.now() + ms;
  while (!done && Date.now() < deadline) {
    server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  server.closeAllConnections();
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
