import type { Aedes, Client } from "aedes";
import { publishAsync } from "./bus.js";

/** The two methods of an Aedes 1.2 instance this module guards. */
interface Registry {
  clients: Record<string, Client | undefined>;
  registerClient(client: Client): void;
  unregisterClient(client: Client): void;
}

function isRegistry(aedes: unknown): aedes is Registry {
  if (typeof aedes !== "object" || aedes === null) return false;
  const clients: unknown = Reflect.get(aedes, "clients");
  return (
    typeof clients === "object" &&
    clients !== null &&
    typeof Reflect.get(aedes, "registerClient") === "function" &&
    typeof Reflect.get(aedes, "unregisterClient") === "function"
  );
}

/**
 * Keeps Aedes's table of connected clients true when a socket closes between
 * `authenticate` and registration — while Aedes loads the session (`subscriptionsByClient`,
 * the will): Redis round trips in Redis mode, so a window of milliseconds, longer under
 * load, as in a reconnect storm where routers give up on slow CONNECTs.
 *
 * Aedes 1.2 does two wrong things then (aedes.js `registerClient`/`unregisterClient`,
 * lib/client.js `close`):
 * - the closing client unregisters itself if *any* client with its id is registered,
 *   so it deletes the router's older, live connection from `aedes.clients` (the live one is
 *   then never taken over, and `connectedClients` is one short);
 * - its CONNECT flow goes on to `registerClient` anyway: the closed client is registered,
 *   for good (nothing will close it again), and would stall the next takeover of that id.
 *
 * Here a client unregisters only itself, and a closed client is not registered. What the
 * closed connection's presence claim means for the live one is decided by
 * DeviceConnections (mqtt/connections.ts): the claim has replaced the live connection's
 * record, so that connection is taken over as Aedes would have.
 *
 * Patches the instance; returns false, changing nothing, for an instance of another shape
 * (checked by test/broker/registration.test.ts).
 */
export function guardRegistration(aedes: Aedes): boolean {
  const registry: unknown = aedes;
  if (!isRegistry(registry)) return false;
  const register = registry.registerClient;
  const unregister = registry.unregisterClient;
  registry.registerClient = function registerOpenClient(this: Registry, client: Client): void {
    if (client.closed) return;
    register.call(this, client);
  };
  registry.unregisterClient = function unregisterItself(this: Registry, client: Client): void {
    if (this.clients[client.id] !== client) return;
    unregister.call(this, client);
  };
  return true;
}

/**
 * Closes every other connection with this id, on this node and (through Aedes's
 * `$SYS/<node>/new/clients`, which each node answers by closing its own client of the id)
 * on the others: the takeover [MQTT-3.1.4-2] a registration would have done.
 */
export function takeOverId(aedes: Aedes, client: Client): void {
  const registry: unknown = aedes;
  const older = isRegistry(registry) ? registry.clients[client.id] : undefined;
  if (older && older !== client && !older.closed) older.close();
  void publishAsync(aedes, `$SYS/${aedes.id}/new/clients`, client.id);
}
