import { isDeviceSubscriptionTopic } from "../../../protocol/src/index.js";

/**
 * The persistence boundary of issue 10: a device's stored session can only ever
 * hold its own allowed topics (`deviceSubscriptionTopics`), whatever Aedes hands
 * the persistence. Aedes 1.2's SUBSCRIBE handler stores *every* filter of a
 * packet once one is granted (lib/handlers/subscribe.js `storeSubscriptions`),
 * so the ACL alone cannot keep refused filters out of a session; both
 * persistences (memory and Redis) pass what they store, restore and enqueue
 * through these functions.
 */

interface SubscriptionLike {
  topic: string;
  qos: number;
}

/** Commands are QoS 1 (CONTRACT.md); a stored QoS 2 would add a second in-flight store per session. */
const MAX_STORED_QOS = 1;

/** The subscriptions `clientId` may keep, QoS capped at 1; everything else is dropped. */
export function allowedSubscriptions<S extends SubscriptionLike>(clientId: string, subs: readonly S[]): S[] {
  const allowed: S[] = [];
  for (const sub of subs) {
    if (!isDeviceSubscriptionTopic(clientId, sub.topic)) continue;
    allowed.push(sub.qos > MAX_STORED_QOS ? { ...sub, qos: MAX_STORED_QOS } : sub);
  }
  return allowed;
}

/** The topics of `subs` that `clientId` may not hold (a session stored before this guard existed). */
export function foreignTopics(clientId: string, subs: readonly SubscriptionLike[]): string[] {
  return subs.filter((sub) => !isDeviceSubscriptionTopic(clientId, sub.topic)).map((sub) => sub.topic);
}

/** The offline subscribers a packet may be queued for: each only for its own allowed topics. */
export function allowedRecipients<S extends { clientId: string; topic?: string }>(
  subs: readonly S[],
  packetTopic: string,
): S[] {
  return subs.filter((sub) => isDeviceSubscriptionTopic(sub.clientId, packetTopic));
}
