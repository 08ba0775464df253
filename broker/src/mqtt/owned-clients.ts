import type { Aedes, Client } from "aedes";
import type { OwnedConnection } from "../devices/node-liveness.js";
import type { RosterEntry } from "../devices/online-roster.js";
import type { DeviceConnections } from "./connections.js";

/**
 * This node's device connections, read from Aedes's own client map when asked (nothing is
 * kept per connection for it): for the node liveness re-assert (Redis mode) and the online
 * roster (memory mode).
 */
export class OwnedClients {
  constructor(
    private readonly aedes: Aedes,
    private readonly deviceConnections: DeviceConnections,
    /** 1.5 × MAX_KEEPALIVE_SECONDS: the idle limit of a client whose timer is not set yet. */
    private readonly fallbackGraceMs: number,
  ) {}

  *#clients(): Iterable<[Client, OwnedConnection]> {
    // Aedes's id → Client map; not in its type definitions.
    const clients: unknown = Reflect.get(this.aedes, "clients");
    if (typeof clients !== "object" || clients === null) return;
    for (const client of Object.values(clients)) {
      const owned = this.deviceConnections.owned(client as Client);
      if (owned) yield [client as Client, owned];
    }
  }

  *connections(): Iterable<OwnedConnection> {
    for (const [, owned] of this.#clients()) yield owned;
  }

  /** Each online device and 1.5 × its keepalive (Aedes's own idle limit, `_keepaliveInterval`). */
  *onlineDevices(): Iterable<RosterEntry> {
    for (const [client, owned] of this.#clients()) {
      const idleLimit: unknown = Reflect.get(client, "_keepaliveInterval");
      const graceMs = typeof idleLimit === "number" && idleLimit > 0 ? idleLimit : this.fallbackGraceMs;
      yield { deviceId: owned.deviceId, graceMs };
    }
  }
}
