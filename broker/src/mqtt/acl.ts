import type { AedesPublishPacket, Client, PublishPacket, Subscription } from "aedes";
import {
  isDeviceSubscriptionTopic,
  MAX_TOPIC_LEVELS,
  parseCommand,
  parseJson,
  parseTopic,
  topics,
} from "../../../protocol/src/index.js";
import { type BrokerContext, type RefusalReason, refuse } from "../context.js";

/**
 * The ACL of CONTRACT.md "MQTT topics": a device publishes only to its own
 * results, state and events/{name}, at QoS 0 or 1; it subscribes only to
 * `deviceSubscriptionTopics(id)` (its own commands and desired state), and nothing else is ever
 * forwarded to it. Everything else is refused and counted by reason. MQTT 3.1.1
 * cannot refuse a PUBLISH, so a refused publish closes the connection
 * [MQTT-3.3.5-2]; a refused subscription is answered 0x80 and the connection
 * stays [MQTT-3.9.3] (and is never stored: sessions/subscription-guard.ts).
 */

function topicRefusal(topic: string, deviceId: string): RefusalReason | null {
  if (topic.startsWith("$")) return "sys_topic";
  if (topic.includes("+") || topic.includes("#")) return "wildcard";
  if (topic.split("/").length > MAX_TOPIC_LEVELS) return "topic_depth";
  const parsed = parseTopic(topic);
  if (!parsed) return "topic_not_allowed";
  if (parsed.deviceId !== deviceId) return "other_device";
  return null;
}

export function createAuthorizePublish(ctx: BrokerContext) {
  const maxPayload = ctx.settings.maxPayloadBytes;
  return function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    // Broker-originated publishes (client === null) are trusted; devices have no wills.
    if (!client) {
      callback(null);
      return;
    }
    const deviceId = client.id;
    // QoS 2 would make Aedes store the packet until a PUBREL that need never come,
    // per session and across reconnects (issue 10); devices publish QoS 0 or 1.
    if (packet.qos === 2) {
      refuse(ctx, "publish_qos2", { deviceId, topic: packet.topic });
      callback(new Error("publish refused: QoS 2"));
      return;
    }
    const size =
      typeof packet.payload === "string" ? Buffer.byteLength(packet.payload) : packet.payload.length;
    if (size > maxPayload) {
      refuse(ctx, "payload_too_large", { deviceId, topic: packet.topic, size, max: maxPayload });
      callback(new Error("payload too large"));
      return;
    }
    const reason: RefusalReason | null =
      topicRefusal(packet.topic, deviceId) ??
      (isCommandsTopic(packet.topic, deviceId) ? "publish_commands" : null) ??
      (packet.topic === topics.desired(deviceId) ? "publish_desired" : null);
    if (reason) {
      refuse(ctx, reason, { deviceId, topic: packet.topic, action: "publish" });
      callback(new Error(`publish refused: ${reason}`));
      return;
    }
    // "retained" state is kept by the broker as the device's last state (devices/store.ts),
    // so Aedes's retained store — unbounded by topic — is never used.
    packet.retain = false;
    callback(null);
  };
}

function isCommandsTopic(topic: string, deviceId: string): boolean {
  return topic === topics.commands(deviceId);
}

export function createAuthorizeSubscribe(ctx: BrokerContext) {
  return function authorizeSubscribe(
    client: Client,
    sub: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const deviceId = client.id;
    const reason: RefusalReason | null =
      topicRefusal(sub.topic, deviceId) ??
      (isDeviceSubscriptionTopic(deviceId, sub.topic) ? null : "subscribe_not_commands");
    if (reason) {
      refuse(ctx, reason, { deviceId, topic: sub.topic, action: "subscribe" });
      callback(null, null);
      return;
    }
    // Commands and desired state are QoS 1 (CONTRACT.md); QoS 2 would add a second in-flight store per session.
    callback(null, { ...sub, qos: sub.qos === 0 ? 0 : 1 });
  };
}

/**
 * `authorizeForward`: device `{id}` is sent only its own allowed topics
 * (`deviceSubscriptionTopics`), live or from its session's queue, whatever a
 * subscription or a stored session says; and a command is never delivered after
 * its `expiresAt`. Returning null makes Aedes drop the packet (and clear it from
 * the session's queue). `onCommandDelivered` credits the device's publish rate
 * limit with the result it owes.
 */
export function createAuthorizeForward(
  ctx: BrokerContext,
  onCommandDelivered: (deviceId: string) => void = () => {},
) {
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (!isDeviceSubscriptionTopic(client.id, packet.topic)) {
      refuse(ctx, "forward_not_allowed", { deviceId: client.id, topic: packet.topic });
      return null;
    }
    if (!isCommandsTopic(packet.topic, client.id)) {
      ctx.metrics.messagesOut.inc({ kind: "desired" });
      return packet;
    }
    const json = parseJson(packet.payload.toString());
    const command = json.ok ? parseCommand(json.value) : json;
    if (!command.ok) {
      ctx.logger.error(
        { deviceId: client.id, message: command.message },
        "unparseable command not delivered",
      );
      return null;
    }
    if (command.value.expiresAt <= ctx.clock.now()) {
      ctx.metrics.commands.inc({ outcome: "expired" });
      ctx.logger.info({ deviceId: client.id, commandId: command.value.id }, "expired command not delivered");
      return null;
    }
    ctx.metrics.messagesOut.inc({ kind: "command" });
    onCommandDelivered(client.id);
    return packet;
  };
}
