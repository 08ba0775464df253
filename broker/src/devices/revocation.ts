import type { Aedes, Client } from "aedes";
import { ErrorCode } from "../../../protocol/src/index.js";
import type { TimerHandle } from "../clock.js";
import { endAllQueuedCommands } from "../commands/queued-outcome.js";
import type { BrokerContext } from "../context.js";
import { publishAsync, subscribeAsync } from "../mqtt/bus.js";
import type { DeviceConnections } from "../mqtt/connections.js";
import { canForget, type SessionPersistence } from "../sessions/persistence.js";

/** Internal bus topic on which the node that revoked a device tells every node to act now. */
const REVOKE_TOPIC = "$SYS/tether/revoke";

/** Where a revocation that disconnected a device came from (`tether_revoked_disconnects_total{source}`). */
export type RevocationSource = "api" | "redis";

export interface RevocationDeps {
  aedes: Aedes;
  connections: DeviceConnections;
  persistence: SessionPersistence;
  /** This node's connected clients. */
  localClients: () => Iterable<Client>;
  /** Redis mode: the revocation set is shared by every node (and redis-cli may change it). */
  shared: boolean;
}

/**
 * Live revocation (issue 10 §6). A revoked device is refused at CONNECT (mqtt/auth.ts)
 * and, when connected, disconnected within seconds on whichever node holds it:
 * - `revoke()` (the API) records it, acts on this node, and tells every node on the bus;
 * - every node also checks its connected devices against the revocation set every
 *   `revocationCheckMs` (2 s): in Redis mode an id added with redis-cli, or a node's
 *   REVOKED_DEVICES (added to the shared set at start), takes effect that way, and in
 *   either mode a device that was authenticating while it was revoked is caught.
 * Disconnecting marks the presence reason `revoked`, then removes the device's
 * session and queued commands; each queued command's caller gets a `command_result`
 * with `session_expired`.
 */
export class Revocations {
  readonly #ctx: BrokerContext;
  readonly #deps: RevocationDeps;
  #timer: TimerHandle | null = null;
  /** The check in progress, so checks never overlap and close() can wait for it. */
  #checking: Promise<void> | null = null;

  constructor(ctx: BrokerContext, deps: RevocationDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const ctx = this.#ctx;
    await subscribeAsync(this.#deps.aedes, REVOKE_TOPIC, (packet, done) => {
      done();
      void this.#enforce(packet.payload.toString(), "api");
    });
    // REVOKED_DEVICES applies cluster-wide: a device connected to another node is disconnected too.
    if (this.#deps.shared)
      for (const deviceId of ctx.settings.revokedDevices) await ctx.store.revoke(deviceId);
    // In memory mode too: it catches a device whose CONNECT was being authenticated as it was revoked.
    this.#timer = ctx.clock.setInterval(() => {
      this.#checking ??= this.check().finally(() => {
        this.#checking = null;
      });
    }, ctx.settings.revocationCheckMs);
  }

  /** Revokes a device: recorded, enforced here and on every node, its session and queued commands removed. */
  async revoke(deviceId: string): Promise<void> {
    await this.#ctx.store.revoke(deviceId);
    await this.#enforce(deviceId, "api");
    await this.purge(deviceId);
    await publishAsync(this.#deps.aedes, REVOKE_TOPIC, deviceId);
  }

  /** Lifts an API revocation; false when the device is in this node's REVOKED_DEVICES (configuration wins). */
  async unrevoke(deviceId: string): Promise<boolean> {
    if (this.#ctx.store.isConfiguredRevoked(deviceId)) return false;
    await this.#ctx.store.unrevoke(deviceId);
    return true;
  }

  /** Checks this node's connected devices against the revocation set (every revocationCheckMs). */
  async check(): Promise<void> {
    try {
      const { store } = this.#ctx;
      if (store.revokedIds) {
        // Memory mode: the revoked list (an operator's, small) is looked up, not every client.
        for (const deviceId of store.revokedIds()) await this.#enforce(deviceId, "redis");
        return;
      }
      const ids = [...this.#deps.localClients()].map((client) => client.id);
      if (ids.length === 0) return;
      for (const deviceId of await this.#ctx.store.revokedAmong(ids)) await this.#enforce(deviceId, "redis");
    } catch (error) {
      this.#ctx.logger.error({ err: error }, "revocation check failed");
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) this.#ctx.clock.clearInterval(this.#timer);
    this.#timer = null;
    await this.#checking;
  }

  /** Disconnects the device if it is connected to this node, then removes its session and queued commands. */
  async #enforce(deviceId: string, source: RevocationSource): Promise<void> {
    const clients: unknown = Reflect.get(this.#deps.aedes, "clients");
    const client: unknown =
      typeof clients === "object" && clients !== null ? Reflect.get(clients, deviceId) : undefined;
    if (!isClient(client) || !this.#deps.connections.isDevice(client)) return;
    const { metrics, logger } = this.#ctx;
    this.#deps.connections.markReason(client, "revoked");
    metrics.revokedDisconnects.inc({ source });
    logger.warn({ deviceId, source }, "revoked device disconnected");
    await new Promise<void>((resolve) => client.close(() => resolve()));
    await this.purge(deviceId);
  }

  /** Removes a revoked device's session and queued commands (idempotent: any node may run it). */
  async purge(deviceId: string): Promise<void> {
    const { logger } = this.#ctx;
    try {
      const { persistence } = this.#deps;
      if (canForget(persistence)) await persistence.forgetSession(deviceId);
      else await persistence.cleanSubscriptions({ id: deviceId });
      // Each queued command's caller gets its command_result (session_expired), through the one path.
      await endAllQueuedCommands(this.#ctx, deviceId, ErrorCode.SessionExpired);
    } catch (error) {
      logger.error({ err: error, deviceId }, "could not remove a revoked device's session");
    }
  }
}

function isClient(value: unknown): value is Client {
  return typeof value === "object" && value !== null && typeof Reflect.get(value, "close") === "function";
}
