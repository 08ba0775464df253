import type { EventEmitter } from "node:events";
import type { Client } from "aedes";
import { type BrokerContext, refuse } from "../context.js";
import type { PublishRateLimiter } from "../limits/publish-rate.js";
import type { DeviceConnections } from "./connections.js";

/** The fields of an mqtt-packet PUBLISH the gate reads. */
interface ParsedPacket {
  cmd: string;
  qos?: number;
  messageId?: number;
}

/** mqtt-packet's parser as Aedes sets it up (lib/client.js): `client` and a 'packet' listener. */
interface AedesParser extends EventEmitter {
  client: Client;
}

type PacketListener = (this: AedesParser, packet: ParsedPacket) => void;

/**
 * The per-device publish rate limit, applied where a packet leaves mqtt-packet's
 * parser and before Aedes handles it: a dropped PUBLISH costs a parse and a
 * bucket lookup, never the ACL, the bus (Redis pub/sub in Redis mode), the
 * device store or the event forwarder. Aedes 1.2 offers no hook there (its
 * `authorizePublish` can only accept or close the connection), so the gate takes
 * the parser's 'packet' listener — Aedes's module-level `enqueue`, one function
 * for every client — and calls it for what passes. One gate function is shared
 * by every socket. A dropped QoS 1 PUBLISH is still acknowledged, so the device
 * does not resend it. Aedes 1.2 / mqtt-packet 9 internals, checked by
 * test/security/broker-flood.test.ts.
 */
export function createPublishGate(
  ctx: BrokerContext,
  limiter: PublishRateLimiter,
  connections: DeviceConnections,
): (client: Client) => void {
  let aedesEnqueue: PacketListener | null = null;

  function onParsedPacket(this: AedesParser, packet: ParsedPacket): void {
    const client = this.client;
    // The rest of a chunk parsed after the gate closed the connection is not worth handling.
    if (client.conn.destroyed) return;
    if (packet.cmd === "publish" && client.connected) {
      const verdict = limiter.take(client.id);
      if (verdict === "drop") {
        refuse(ctx, "publish_rate", { deviceId: client.id });
        if (packet.qos === 1 && packet.messageId !== undefined) acknowledge(client, packet.messageId);
        return;
      }
      if (verdict === "flood") {
        refuse(ctx, "publish_flood", {
          deviceId: client.id,
          cooldownSeconds: ctx.settings.deviceFloodCooldownSeconds,
        });
        connections.markReason(client, "error");
        client.conn.destroy();
        return;
      }
    }
    aedesEnqueue?.call(this, packet);
  }

  return function installPublishGate(client: Client): void {
    const parser: unknown = Reflect.get(client, "_parser");
    if (!isEmitter(parser)) return;
    const [listener, ...others] = parser.listeners("packet");
    if (typeof listener !== "function" || others.length > 0) return;
    if (aedesEnqueue === null) aedesEnqueue = listener as PacketListener;
    // Aedes uses one `enqueue` for every client; if that ever changes, leave this client ungated and say so.
    if (listener !== aedesEnqueue) {
      ctx.logger.error("publish gate not installed: Aedes's parser listener changed");
      return;
    }
    parser.removeListener("packet", listener as PacketListener);
    parser.on("packet", onParsedPacket);
  };
}

function isEmitter(value: unknown): value is EventEmitter {
  return typeof value === "object" && value !== null && typeof Reflect.get(value, "listeners") === "function";
}

/** A PUBACK [MQTT-3.4], written whole: it cannot interleave with Aedes's own writes (same tick, whole packets). */
function acknowledge(client: Client, messageId: number): void {
  if (client.conn.destroyed) return;
  client.conn.write(Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]));
}
