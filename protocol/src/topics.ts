import { isDeviceId } from "./ids.js";

/**
 * The only place topic strings are spelled (CONTRACT.md, "MQTT topics").
 * Everything else builds and parses topics through these functions.
 */
export const topics = {
  commands: (deviceId: string) => `devices/${deviceId}/commands`,
  results: (deviceId: string) => `devices/${deviceId}/results`,
  state: (deviceId: string) => `devices/${deviceId}/state`,
  event: (deviceId: string, name: string) => `devices/${deviceId}/events/${name}`,
  /** Broker → device, QoS 1: the latest desired document (issue 15). */
  desired: (deviceId: string) => `devices/${deviceId}/desired`,
} as const;

/**
 * The topics device `deviceId` may subscribe to, and so the only topics its
 * session may hold and the broker may forward to it: exact topics, no wildcards —
 * its commands and its desired document (issue 15).
 * Every check follows this one function (the broker's ACL, its persistence
 * guard and forward check, the property test of the topic rules); a topic
 * added here is added everywhere.
 */
export function deviceSubscriptionTopics(deviceId: string): readonly string[] {
  return [topics.commands(deviceId), topics.desired(deviceId)];
}

/** True when `topic` is one of `deviceSubscriptionTopics(deviceId)`. */
export function isDeviceSubscriptionTopic(deviceId: string, topic: string): boolean {
  return deviceSubscriptionTopics(deviceId).includes(topic);
}

/** Event names are one topic level, same alphabet as device ids, up to 64 chars. */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export type ParsedTopic =
  | { kind: "commands"; deviceId: string }
  | { kind: "desired"; deviceId: string }
  | { kind: "results"; deviceId: string }
  | { kind: "state"; deviceId: string }
  | { kind: "event"; deviceId: string; name: string };

/** Maximum levels in any topic we accept (`devices/{id}/events/{name}` is 4). */
export const MAX_TOPIC_LEVELS = 4;

/**
 * Parses a concrete (wildcard-free) topic of the contract, or returns null for
 * anything else — other namespaces, `$SYS`, wildcards, bad ids, extra levels.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split("/");
  if (parts.length < 3 || parts.length > MAX_TOPIC_LEVELS || parts[0] !== "devices") return null;
  const [, deviceId, kind, name] = parts;
  if (!isDeviceId(deviceId)) return null;
  if (parts.length === 3) {
    if (kind === "commands" || kind === "results" || kind === "state" || kind === "desired") {
      return { kind, deviceId };
    }
    return null;
  }
  if (kind === "events" && name !== undefined && EVENT_NAME_PATTERN.test(name)) {
    return { kind: "event", deviceId, name };
  }
  return null;
}
