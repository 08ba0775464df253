/**
 * Issue 10, attack 1: one router's password must not read other routers'
 * commands. Aedes 1.2 persists every filter of a SUBSCRIBE once one of them is
 * granted, and the offline queue used to deliver whatever it held; so a single
 * SUBSCRIBE [own, victim's, devices/+/commands, #] followed by a reconnect
 * copied the victim's commands (Wi-Fi PSKs included) to the attacker.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrokerOptions, RunningBroker } from "../../broker/src/index.js";
import { topics } from "../../protocol/src/index.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  deleteRedisKeys,
  deviceId,
  REDIS_URL,
  startTestBroker,
  waitFor,
} from "../broker/helpers.js";
import { RawMqtt } from "./raw-client.js";

const prefix = `tether-test:${randomUUID().slice(0, 8)}:`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterEach(cleanupAll);
afterAll(async () => {
  await redis.quit();
  await deleteRedisKeys(prefix);
});

const MODES: Array<[string, Partial<BrokerOptions>]> = [
  ["in memory", {}],
  ["on Redis", { redisUrl: REDIS_URL, redisKeyPrefix: prefix }],
];

/** Every message the device receives, by topic. */
function record(client: MqttClient): string[] {
  const topicsSeen: string[] = [];
  client.on("message", (topic) => topicsSeen.push(topic));
  return topicsSeen;
}

/** Queues a marker command for `id` (offline, persistent) so its arrival shows the queue has drained. */
async function queueMarker(broker: RunningBroker, id: string): Promise<string> {
  const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "marker", queue: true } });
  expect(reply.status).toBe(202);
  return (reply.body as { id: string }).id;
}

/** A victim router that answers its commands, then goes offline with a command queued for it. */
async function victimTraffic(broker: RunningBroker, victim: string): Promise<void> {
  const device = await connectDevice(broker, victim, { clean: false });
  answerCommands(device, victim, (command) => ({ id: command.id, ok: true, result: "psk-1234" }));
  const live = await api(broker, `/v1/devices/${victim}/commands`, {
    body: { name: "wifi.get", params: { psk: true } },
  });
  expect(live.status).toBe(200);
  await device.endAsync();
  await waitFor(
    async () => !((await api(broker, `/v1/devices/${victim}`)).body as { online: boolean }).online,
  );
  const queued = await api(broker, `/v1/devices/${victim}/commands`, {
    body: { name: "wifi.set", params: { psk: "new-secret" }, queue: true },
  });
  expect(queued.status).toBe(202);
}

/** Reconnects the attacker's persistent session and returns every topic it is sent until its marker arrives. */
async function attackerReceives(broker: RunningBroker, attacker: string): Promise<string[]> {
  const marker = await queueMarker(broker, attacker);
  const client = await connectDevice(broker, attacker, { clean: false, subscribeCommands: false });
  const seen = record(client);
  const payloads: string[] = [];
  client.on("message", (_topic, payload) => payloads.push(payload.toString()));
  await waitFor(() => payloads.some((p) => p.includes(marker)), 3_000, "the attacker's own marker command");
  // Anything queued before the marker has been delivered by now; give live traffic a moment too.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return seen;
}

/**
 * Each test takes about a second; the limit only catches a hang. The file runs in the timing
 * lane (vitest.config.ts): its raw client's 3 s waits for a SUBACK are deadlines, and in the
 * nice-19 lane one SUBACK took longer once on 2026-11-30 (cause not found).
 */
const TEST_TIMEOUT = { timeout: 60_000 };

describe.each(MODES)("a router's stolen password, %s", TEST_TIMEOUT, (_mode, options) => {
  it("cannot read another router's commands through a multi-filter SUBSCRIBE and a reconnect", async () => {
    const broker = await startTestBroker(options);
    const attacker = deviceId("attacker");
    const victim = deviceId("victim");

    const { client: raw, connack } = await RawMqtt.device(broker, attacker, { clean: false });
    expect(connack).toMatchObject({ cmd: "connack", returnCode: 0 });
    const granted = await raw.subscribe([
      topics.commands(attacker),
      topics.commands(victim),
      "devices/+/commands",
      "#",
    ]);
    expect(granted).toEqual([1, 128, 128, 128]);
    raw.send({ cmd: "disconnect" });
    await raw.closed;
    await waitFor(
      async () => !((await api(broker, `/v1/devices/${attacker}`)).body as { online: boolean }).online,
    );

    await victimTraffic(broker, victim);
    const seen = await attackerReceives(broker, attacker);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([topics.commands(attacker)]));

    if (options.redisUrl) {
      const stored = await redis.hkeys(`${prefix}aedes:client:${attacker}`);
      expect(stored).toEqual([topics.commands(attacker)]);
    }
  });
});

/** msgpack of `{topic, qos}`, as aedes-persistence-redis stores a subscription. */
function msgpackSubscription(topic: string, qos: number): Buffer {
  const str = (text: string) => {
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length < 32) return Buffer.concat([Buffer.from([0xa0 | bytes.length]), bytes]);
    return Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes]);
  };
  return Buffer.concat([Buffer.from([0x82]), str("topic"), str(topic), str("qos"), Buffer.from([qos])]);
}

describe("a session stored in Redis before the fix, with foreign filters", TEST_TIMEOUT, () => {
  it("receives nothing but its own commands and is cleaned when the device connects", async () => {
    const attacker = deviceId("legacy");
    const victim = deviceId("victim");
    const key = `${prefix}aedes:client:${attacker}`;
    await redis.hset(key, {
      [topics.commands(attacker)]: msgpackSubscription(topics.commands(attacker), 1),
      [topics.commands(victim)]: msgpackSubscription(topics.commands(victim), 1),
      "#": msgpackSubscription("#", 1),
    });
    await redis.sadd(`${prefix}aedes:clients`, attacker);

    // The node loads every stored subscription at start-up.
    const broker = await startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix });
    await victimTraffic(broker, victim);
    expect(await redis.lrange(`${prefix}aedes:outgoing:${encodeURIComponent(attacker)}`, 0, -1)).toEqual([]);

    const seen = await attackerReceives(broker, attacker);
    expect(new Set(seen)).toEqual(new Set([topics.commands(attacker)]));
    expect(await redis.hkeys(key)).toEqual([topics.commands(attacker)]);
  });
});
