/**
 * Issue 10, attack 2: QoS 2 publishes whose PUBREL never comes were stored per
 * session and survived reconnects (≈ 64 MB more per reconnect with Aedes's
 * default window of 1,000 packets). Devices publish QoS 0 or 1: the first QoS 2
 * publish closes the connection, is counted, and nothing is stored.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { topics } from "../../protocol/src/index.js";
import { cleanupAll, deleteRedisKeys, deviceId, REDIS_URL, startTestBroker } from "../broker/helpers.js";
import { settledHeapUsed } from "../leak/gc.js";
import { refusals } from "./helpers.js";
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

const RECONNECTS = 3;
const PACKETS_PER_CONNECTION = 100;
const PAYLOAD_BYTES = 60_000;
/**
 * The stated margin: three reconnects of 100 withheld 60 KB QoS 2 publishes each
 * (18 MB if stored) may move the heap and Buffers by at most 4 MiB.
 */
const MEMORY_MARGIN_BYTES = 4 * 1024 * 1024;

async function settledMemory(): Promise<number> {
  const heap = await settledHeapUsed();
  return heap + process.memoryUsage().arrayBuffers;
}

/** One connection of the attack: 100 QoS 2 publishes in one write, PUBREL never sent. Resolves with the PUBRECs seen. */
async function withholdPubrel(broker: Parameters<typeof RawMqtt.device>[0], id: string): Promise<number> {
  const { client, connack } = await RawMqtt.device(broker, id, { clean: false });
  expect(connack).toMatchObject({ returnCode: 0 });
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  payload.write('{"x":"');
  payload.write('"}', PAYLOAD_BYTES - 2);
  for (let i = 1; i <= PACKETS_PER_CONNECTION; i++) {
    client.send({
      cmd: "publish",
      topic: topics.event(id, "log"),
      qos: 2,
      messageId: i,
      payload,
      retain: false,
      dup: false,
    });
  }
  const closed = await Promise.race([
    client.closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000)),
  ]);
  const pubrecs = client.received.filter((packet) => packet.cmd === "pubrec").length;
  client.destroy();
  expect(closed, "the broker closes a connection that publishes QoS 2").toBe(true);
  return pubrecs;
}

describe("QoS 2 publishes whose PUBREL never comes", () => {
  it("close the connection at once, are counted, and leave nothing stored across reconnects (in memory)", async () => {
    const broker = await startTestBroker();
    const id = deviceId("qos2");
    // Warm-up: the first round loads and compiles the code paths (V8 code is heap too).
    await withholdPubrel(broker, id);
    const before = await settledMemory();
    for (let round = 0; round < RECONNECTS; round++) {
      expect(await withholdPubrel(broker, id)).toBe(0);
    }
    const growth = (await settledMemory()) - before;
    expect((await refusals(broker)).publish_qos2).toBe(RECONNECTS + 1);
    expect(growth).toBeLessThan(MEMORY_MARGIN_BYTES);
  });

  it("leave no inbound QoS 2 keys in Redis across reconnects", async () => {
    const broker = await startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix });
    const id = deviceId("qos2");
    for (let round = 0; round < RECONNECTS; round++) {
      expect(await withholdPubrel(broker, id)).toBe(0);
    }
    expect(await redis.keys(`${prefix}aedes:incoming:${id}:*`)).toEqual([]);
    expect((await refusals(broker)).publish_qos2).toBe(RECONNECTS);
  });
});
