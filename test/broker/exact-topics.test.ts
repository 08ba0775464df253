import { Aedes, type AedesPublishPacket } from "aedes";
import { afterEach, describe, expect, it } from "vitest";
import { closeAedes, publishAsync } from "../../broker/src/mqtt/bus.js";
import { routeExactTopics } from "../../broker/src/mqtt/exact-topics.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  deviceId,
  onCleanup,
  startTestBroker,
} from "./helpers.js";

afterEach(cleanupAll);

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/** Aedes 1.2 with its default mq (mqemitter 7), routed as the broker does in memory mode. */
async function routedAedes(): Promise<Aedes> {
  const aedes = await Aedes.createBroker();
  onCleanup(() => closeAedes(aedes));
  expect(routeExactTopics(Reflect.get(aedes, "mq"))).toBe(true);
  return aedes;
}

function recorder(): { deliver: Deliver; topics: string[] } {
  const topics: string[] = [];
  return {
    topics,
    deliver: (packet, done) => {
      topics.push(packet.topic);
      done();
    },
  };
}

function subscribe(aedes: Aedes, topic: string, deliver: Deliver): Promise<void> {
  return new Promise((resolve) => aedes.subscribe(topic, deliver, resolve));
}

function unsubscribe(aedes: Aedes, topic: string, deliver: Deliver): Promise<void> {
  return new Promise((resolve) => aedes.unsubscribe(topic, deliver, resolve));
}

describe("exact-topic routing (mqtt/exact-topics.ts, Aedes 1.2 / mqemitter 7 internals)", () => {
  it("delivers a publish to its exact subscribers and to matching wildcard filters, and to no one else", async () => {
    const aedes = await routedAedes();
    const exact = recorder();
    const other = recorder();
    const wildcard = recorder();
    await subscribe(aedes, "devices/a/commands", exact.deliver);
    await subscribe(aedes, "devices/b/commands", other.deliver);
    await subscribe(aedes, "devices/+/commands", wildcard.deliver);
    await publishAsync(aedes, "devices/a/commands", "x");
    await publishAsync(aedes, "devices/a/commands/more", "x");
    expect(exact.topics).toEqual(["devices/a/commands"]);
    expect(other.topics).toEqual([]);
    expect(wildcard.topics).toEqual(["devices/a/commands"]);
  });

  it("keeps duplicates and removes one listener at a time, as mqemitter does", async () => {
    const aedes = await routedAedes();
    const first = recorder();
    const second = recorder();
    await subscribe(aedes, "devices/a/commands", first.deliver);
    await subscribe(aedes, "devices/a/commands", second.deliver);
    await subscribe(aedes, "devices/a/commands", first.deliver);
    await publishAsync(aedes, "devices/a/commands", "1");
    expect(first.topics).toHaveLength(2);
    expect(second.topics).toHaveLength(1);
    await unsubscribe(aedes, "devices/a/commands", first.deliver);
    await publishAsync(aedes, "devices/a/commands", "2");
    expect(first.topics).toHaveLength(3);
    expect(second.topics).toHaveLength(2);
    await unsubscribe(aedes, "devices/a/commands", first.deliver);
    await unsubscribe(aedes, "devices/a/commands", second.deliver);
    await publishAsync(aedes, "devices/a/commands", "3");
    expect(first.topics).toHaveLength(3);
    expect(second.topics).toHaveLength(2);
  });

  it("leaves anything but mqemitter alone", () => {
    const notMq = { on: () => {}, removeListener: () => {} };
    expect(routeExactTopics(notMq)).toBe(false);
    expect(routeExactTopics(undefined)).toBe(false);
  });

  it("is installed by the broker in memory mode: commands reach a router, and stop after it unsubscribes", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const device = await connectDevice(broker, id, { clean: true });
    answerCommands(device, id, (command) => ({ id: command.id, ok: true, result: null }));
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(reply.status).toBe(200);
    await device.unsubscribeAsync(`devices/${id}/commands`);
    const after = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping", timeoutMs: 200 } });
    expect(after.status).toBe(504);
  });
});
