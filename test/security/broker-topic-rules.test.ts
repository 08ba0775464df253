/**
 * Issue 10, "How it is shown": a property-based test of the topic rules. For any
 * device id and any topic or filter string, the broker's hooks grant a device
 * exactly its own topics — the set `deviceSubscriptionTopics(id)` to subscribe
 * to, keep in its session and be forwarded, and its own results/state/events to
 * publish to — and nothing else.
 */
import type { AedesPublishPacket, Client, PublishPacket, Subscription } from "aedes";
import fc from "fast-check";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { systemClock, TrackedClock } from "../../broker/src/clock.js";
import type { BrokerContext } from "../../broker/src/context.js";
import { MemoryDeviceStore } from "../../broker/src/devices/store.js";
import { createBrokerLogs } from "../../broker/src/logging/broker-logs.js";
import { createBrokerMetrics } from "../../broker/src/metrics.js";
import {
  createAuthorizeForward,
  createAuthorizePublish,
  createAuthorizeSubscribe,
} from "../../broker/src/mqtt/acl.js";
import { allowedRecipients, allowedSubscriptions } from "../../broker/src/sessions/subscription-guard.js";
import { resolveSettings } from "../../broker/src/settings.js";
import { deviceSubscriptionTopics, EVENT_NAME_PATTERN, topics } from "../../protocol/src/index.js";

function context(): BrokerContext {
  const settings = resolveSettings({ deviceSecret: "x".repeat(32), brokerApiToken: "y".repeat(32) });
  const logger = pino({ level: "silent" });
  return {
    settings,
    nodeId: "property-test",
    clock: new TrackedClock(systemClock),
    logger,
    logs: createBrokerLogs(logger, 10_000),
    metrics: createBrokerMetrics(),
    store: new MemoryDeviceStore(),
    events: { push: () => {}, pushEncoded: () => {} },
  };
}

const ctx = context();
const authorizeSubscribe = createAuthorizeSubscribe(ctx);
const authorizePublish = createAuthorizePublish(ctx);
const authorizeForward = createAuthorizeForward(ctx);

const deviceIdArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

/** Topic-shaped strings built from the pieces an attacker would try, plus arbitrary text. */
function topicArb(id: string, other: string): fc.Arbitrary<string> {
  const level = fc.oneof(
    fc.constantFrom("devices", "commands", "results", "state", "events", "desired", "+", "#", "$SYS", ""),
    fc.constantFrom(id, other, `${id}x`, id.toUpperCase()),
    fc.string({ maxLength: 6 }),
  );
  return fc.oneof(
    fc.constantFrom(
      ...deviceSubscriptionTopics(id),
      topics.commands(id),
      topics.results(id),
      topics.state(id),
      topics.event(id, "boot"),
      topics.commands(other),
      `${topics.commands(id)}/`,
      `/${topics.commands(id)}`,
    ),
    fc.array(level, { minLength: 1, maxLength: 6 }).map((levels) => levels.join("/")),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
  );
}

const cases = fc
  .tuple(deviceIdArb, deviceIdArb)
  .chain(([id, other]) => fc.tuple(fc.constant(id), topicArb(id, other), fc.constantFrom(0, 1, 2)));

const clientOf = (id: string) => ({ id }) as unknown as Client;

function subscribe(id: string, topic: string, qos: 0 | 1 | 2): Subscription | null {
  let granted: Subscription | null = null;
  authorizeSubscribe(clientOf(id), { topic, qos } as Subscription, (_error, subscription) => {
    granted = subscription ?? null;
  });
  return granted;
}

function publish(id: string, topic: string, qos: 0 | 1 | 2): boolean {
  let allowed = false;
  const packet = { cmd: "publish", topic, qos, payload: Buffer.from("{}"), retain: false, dup: false };
  authorizePublish(clientOf(id), packet as PublishPacket, (error) => {
    allowed = !error;
  });
  return allowed;
}

function forwarded(id: string, topic: string): boolean {
  const command = { id: "c1", name: "x", params: null, expiresAt: Date.now() + 60_000 };
  const packet = {
    cmd: "publish",
    topic,
    qos: 1,
    payload: Buffer.from(JSON.stringify(command)),
    retain: false,
    dup: false,
    brokerId: "b",
    brokerCounter: 1,
  } as unknown as AedesPublishPacket;
  return authorizeForward(clientOf(id), packet) !== null;
}

/** The publish rule of CONTRACT.md, spelled out independently of the broker's parser. */
function mayPublish(id: string, topic: string, qos: number): boolean {
  if (qos === 2) return false;
  if (topic === topics.results(id) || topic === topics.state(id)) return true;
  const eventPrefix = topics.event(id, "");
  return topic.startsWith(eventPrefix) && EVENT_NAME_PATTERN.test(topic.slice(eventPrefix.length));
}

const RUNS = { numRuns: 3_000 };

describe("the topic rules, for any device id and any topic or filter", () => {
  it("grant a subscription exactly to the device's own subscription topics, at QoS 1 at most", () => {
    fc.assert(
      fc.property(cases, ([id, topic, qos]) => {
        const granted = subscribe(id, topic, qos as 0 | 1 | 2);
        expect(granted !== null).toBe(deviceSubscriptionTopics(id).includes(topic));
        if (granted) expect((granted as Subscription).qos).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });

  it("keep in a session exactly the device's own subscription topics, whatever Aedes hands over", () => {
    fc.assert(
      fc.property(cases, ([id, topic, qos]) => {
        const kept = allowedSubscriptions(id, [{ topic, qos }]);
        expect(kept.length === 1).toBe(deviceSubscriptionTopics(id).includes(topic));
        for (const sub of kept) expect(sub.qos).toBeLessThanOrEqual(1);
        const queuedFor = allowedRecipients([{ clientId: id, topic: "#" }], topic);
        expect(queuedFor.length === 1).toBe(deviceSubscriptionTopics(id).includes(topic));
      }),
      RUNS,
    );
  });

  it("forward to a device nothing but its own subscription topics", () => {
    fc.assert(
      fc.property(cases, ([id, topic]) => {
        expect(forwarded(id, topic)).toBe(deviceSubscriptionTopics(id).includes(topic));
      }),
      RUNS,
    );
  });

  it("let a device publish only to its own results, state and events, at QoS 0 or 1", () => {
    fc.assert(
      fc.property(cases, ([id, topic, qos]) => {
        expect(publish(id, topic, qos as 0 | 1 | 2)).toBe(mayPublish(id, topic, qos));
      }),
      RUNS,
    );
  });
});
