import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../broker/src/desired/desired-store.js";
import type { RunningBroker } from "../../broker/src/index.js";
import { DESIRED_LIMITS, topics } from "../../protocol/src/index.js";
import {
  api,
  cleanupAll,
  connectDevice,
  deleteRedisKeys,
  deviceId,
  REDIS_URL,
  startTestBroker,
  waitFor,
} from "./helpers.js";

/** Issue 15: the broker keeps each device's latest desired document and delivers it. */

const prefix = `tether-test-desired:${randomUUID().slice(0, 8)}:`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterEach(cleanupAll);
afterAll(async () => {
  await redis.quit();
  await deleteRedisKeys(prefix);
});

const put = (broker: RunningBroker, id: string, version: number, desired: Record<string, unknown>) =>
  api(broker, `/v1/devices/${id}/desired`, { method: "PUT", body: { version, desired } });

/** A device client recording what arrives on its desired topic. */
async function desiredListener(
  broker: RunningBroker,
  id: string,
): Promise<{ client: MqttClient; docs: unknown[] }> {
  const client = await connectDevice(broker, id, { subscribeCommands: false });
  const docs: unknown[] = [];
  client.on("message", (topic, payload) => {
    if (topic === topics.desired(id)) docs.push(JSON.parse(payload.toString()));
  });
  await client.subscribeAsync(topics.desired(id), { qos: 1 });
  return { client, docs };
}

describe("desired state on the broker", () => {
  it("keeps only the latest version, ignores an older one, and says so", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    expect(await put(broker, id, 2, { a: 2 })).toEqual({
      status: 200,
      body: { id, version: 2, outcome: "stored" },
    });
    expect(await put(broker, id, 1, { a: 1 })).toEqual({
      status: 200,
      body: { id, version: 2, outcome: "stale" },
    });
    expect(await put(broker, id, 2, { a: 2 })).toEqual({
      status: 200,
      body: { id, version: 2, outcome: "same" },
    });
    // A device subscribing later gets the latest, and only it.
    const { docs } = await desiredListener(broker, id);
    await waitFor(() => docs.length === 1, 2_000, "the document on subscribe");
    expect(docs).toEqual([{ version: 2, desired: { a: 2 } }]);
  });

  it("sends a new version at once to a device that is online, at QoS 1", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const { docs } = await desiredListener(broker, id);
    await put(broker, id, 1, { wifi: { ssid: "x" } });
    await waitFor(() => docs.length === 1, 2_000, "the document");
    expect(docs[0]).toEqual({ version: 1, desired: { wifi: { ssid: "x" } } });
  });

  it("refuses a document above the size bound (413) or too deep (400), and a bad body (400)", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const big = await put(broker, id, 1, { blob: "x".repeat(DESIRED_LIMITS.maxBytes) });
    expect(big).toMatchObject({ status: 413, body: { error: { code: "payload_too_large" } } });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(await put(broker, id, 1, deep)).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_request" } },
    });
    const zero = await api(broker, `/v1/devices/${id}/desired`, {
      method: "PUT",
      body: { version: 0, desired: {} },
    });
    expect(zero).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
    const noToken = await api(broker, `/v1/devices/${id}/desired`, { method: "PUT", body: {}, token: null });
    expect(noToken.status).toBe(401);
  });

  it("a device may subscribe to its own desired topic only, and may never publish on it", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id, { subscribeCommands: false });
    const granted = await client.subscribeAsync(topics.desired(id), { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
    await expect(client.subscribeAsync(topics.desired("someone-else"), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(topics.desired(id), JSON.stringify({ version: 99, desired: {} }), { qos: 1 });
    await closed;
    const refusals = await broker.metrics.refusals.get();
    const reasons = Object.fromEntries(refusals.values.map((v) => [String(v.labels.reason), v.value]));
    expect(reasons).toMatchObject({ other_device: 1, publish_desired: 1 });
  });

  it("bounds the memory store in bytes, dropping the least recently used document", async () => {
    const doc = (n: number) => ({ version: 1, desired: { blob: "x".repeat(1_000), n } });
    const store = new MemoryDesiredStore(4_000);
    for (let i = 0; i < 10; i++) await store.put(`d${i}`, doc(i));
    expect(store.bytes).toBeLessThanOrEqual(4_000);
    expect(store.size).toBe(3);
    expect(store.evictions).toBe(7);
    expect(await store.get("d0")).toBeNull();
    // Reading d7 makes it recent: the next put drops d8 instead.
    expect(await store.get("d7")).toMatchObject({ desired: { n: 7 } });
    await store.put("d10", doc(10));
    expect(await store.get("d8")).toBeNull();
    expect(await store.get("d7")).not.toBeNull();
  });

  it("Redis mode: two nodes share one document per device, compare-and-set on the version", async () => {
    const a = await startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix });
    const b = await startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix });
    const id = deviceId();
    // Handed to both nodes at once, out of order: the newer one wins whatever the order.
    const answers = await Promise.all([
      put(a, id, 3, { v: 3 }),
      put(b, id, 2, { v: 2 }),
      put(b, id, 3, { v: 3 }),
    ]);
    for (const answer of answers) expect(answer).toMatchObject({ status: 200, body: { version: 3 } });
    expect(JSON.parse((await redis.get(`${prefix}desired:${id}`)) ?? "null")).toEqual({
      version: 3,
      desired: { v: 3 },
    });
    expect(await redis.ttl(`${prefix}desired:${id}`)).toBeGreaterThan(0);
    // A device on node A gets what node B was handed.
    const { docs } = await desiredListener(a, id);
    await waitFor(() => docs.length >= 1, 2_000, "the document from Redis");
    await put(b, id, 4, { v: 4 });
    await waitFor(
      () => docs.some((d) => JSON.stringify(d) === JSON.stringify({ version: 4, desired: { v: 4 } })),
      3_000,
      "version 4 across nodes",
    );
  });
});
