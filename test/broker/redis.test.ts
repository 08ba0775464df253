import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ManualClock, systemClock, TrackedClock } from "../../broker/src/clock.js";
import type { BrokerOptions } from "../../broker/src/index.js";
import { createRedisParts } from "../../broker/src/sessions/redis.js";
import { devicePassword, type PresenceEvent, topics } from "../../protocol/src/index.js";
import { RawMqtt } from "../security/raw-client.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  DEVICE_SECRET,
  deleteRedisKeys,
  deviceId,
  EVENTS_SECRET,
  REDIS_URL,
  startEventReceiver,
  startTestBroker,
  testLogger,
  tryConnect,
  waitFor,
} from "./helpers.js";

/**
 * Two broker nodes in one process that share nothing but Redis: each has its
 * own Aedes, persistence connection, bus connections, device store and HTTP
 * server. A key prefix per run keeps runs apart; it is deleted afterwards.
 */
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

function node(options: Partial<BrokerOptions> = {}) {
  return startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, ...options });
}

describe("scale-out on Redis", () => {
  it("routes a command posted to node B to a router on node A, and its result back through B", async () => {
    const a = await node();
    const b = await node();
    const id = deviceId();
    const device = await connectDevice(a, id);
    answerCommands(device, id, (command) => ({ id: command.id, ok: true, result: { via: "A" } }));
    const view = await waitFor(async () => {
      const reply = await api(b, `/v1/devices/${id}`);
      return (reply.body as { online: boolean }).online ? reply : null;
    });
    expect(view?.body).toMatchObject({ id, online: true });
    const reply = await api(b, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(reply).toMatchObject({ status: 200, body: { ok: true, result: { via: "A" } } });
    expect((await b.stats()).pendingCommands).toBe(0);
  });

  it("keeps the session of a router that moves from A to B, and delivers its queued command there", async () => {
    const receiver = await startEventReceiver();
    const events = { edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET };
    const a = await node(events);
    const b = await node(events);
    const id = deviceId();
    const onA = await connectDevice(a, id, { clean: false });
    await onA.endAsync();
    await waitFor(async () => !((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online);

    const queued = await api(a, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(queued.status).toBe(202);
    const commandId = (queued.body as { id: string }).id;

    const onB = await connectDevice(b, id, { clean: false, subscribeCommands: false });
    const received = answerCommands(onB, id, (command) => ({ id: command.id, ok: true, result: "done" }));
    await waitFor(() => received.length === 1, 3_000, "queued command on node B");
    expect(received[0]).toMatchObject({ id: commandId, name: "update" });
    await waitFor(
      () => receiver.events.some((e) => e.type === "command_result"),
      3_000,
      "command_result event",
    );
    expect(receiver.events.filter((e) => e.type === "command_result")).toEqual([
      expect.objectContaining({ deviceId: id, id: commandId, ok: true, result: "done" }),
    ]);
  });

  it("takes over across nodes without a false offline", async () => {
    const receiver = await startEventReceiver();
    const events = { edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET };
    const a = await node(events);
    const b = await node(events);
    const id = deviceId();
    const onA = await connectDevice(a, id, { clean: false });
    const closed = new Promise<void>((resolve) => onA.once("close", () => resolve()));
    await connectDevice(b, id, { clean: false });
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Each node's forwarder sends its own events, so B's takeover can reach the edge before A's
    // connect (seen in 1 of ~30 runs): the edge orders presence by `ts`, not by arrival.
    const presence = receiver.events.filter(
      (e): e is PresenceEvent => e.type === "presence" && e.deviceId === id,
    );
    const byTs = [...presence].sort((x, y) => x.ts - y.ts || (x.reason === "connect" ? -1 : 1));
    expect(byTs).toMatchObject([
      { online: true, reason: "connect" },
      { online: true, reason: "takeover" },
    ]);
    expect((await api(a, `/v1/devices/${id}`)).body).toMatchObject({ online: true });
  });

  it("refuses a device listed in the Redis revocation set", async () => {
    const a = await node();
    const id = deviceId();
    await redis.sadd(`${prefix}revoked`, id);
    const error = await tryConnect(a, {
      clientId: id,
      username: id,
      password: await devicePassword(DEVICE_SECRET, id),
    });
    expect(error?.message).toMatch(/Not authorized/i);
  });

  it("reaps an expired session after a broker restart", async () => {
    const clock = new ManualClock(Date.now());
    const options = { clock, sessionExpirySeconds: 60, reaperIntervalMs: 365 * 86_400_000 };
    const first = await node(options);
    const id = deviceId();
    const device = await connectDevice(first, id, { clean: false });
    await device.endAsync();
    await waitFor(async () => !((await api(first, `/v1/devices/${id}`)).body as { online: boolean }).online);
    await first.close();

    clock.advance(61_000);
    const second = await node(options);
    expect(await second.reapExpiredSessions()).toBeGreaterThanOrEqual(1);
    expect((await api(second, `/v1/devices/${id}`)).body).toMatchObject({ online: false, since: null });
    expect(await redis.exists(`${prefix}aedes:client:${id}`)).toBe(0);
    const again = await api(second, `/v1/devices/${id}/commands`, { body: { name: "x", queue: true } });
    expect(again.status).toBe(409);
  });
});

describe("closing the bus between nodes (mqemitter-redis)", () => {
  /**
   * mqemitter-redis's own close() sent QUIT without handling the promise: a QUIT on a
   * connection that closed first rejected with ioredis's "Connection is closed." and nothing
   * caught it (an unhandled rejection during test/broker/health.test.ts, ~1 full run in 8),
   * and it then waited for an `end` that never came. A connection already ended makes that
   * certain, not a race.
   */
  it("closes with no unhandled rejection when a bus connection has already ended", async () => {
    const parts = createRedisParts(
      { clock: new TrackedClock(systemClock), logger: testLogger },
      REDIS_URL,
      prefix,
      60,
      {
        maxQueuedPerSession: 10,
        onQueueOverflow: () => {},
      },
    );
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
      await waitFor(() => parts.unreachable() === null, 5_000, "every Redis connection ready");
      const pubConn: unknown = Reflect.get(parts.mq, "pubConn");
      if (!(pubConn instanceof Redis)) throw new Error("mqemitter-redis has no pubConn");
      const ended = new Promise((resolve) => pubConn.once("end", resolve));
      pubConn.disconnect();
      await ended;

      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the bus did not close within 3 s")), 3_000);
        parts.mq.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await parts.close();
      // An unhandled rejection is reported after the microtask queue drains.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });
});

/**
 * Aedes 1.2 stores a SUBSCRIBE once per granted filter, in parallel; aedes-persistence-redis
 * waits for its own broadcast with one waiter per client and first topic, so the second store's
 * waiter replaced the first's and the SUBACK never came — for every SUBSCRIBE the device SDK
 * sends (commands and desired, one packet). broker/src/sessions/redis.ts stores a packet once.
 */
describe("a SUBSCRIBE of a device's two topics, on Redis", () => {
  it("is acknowledged with both granted and both stored, for a new and a resumed session", async () => {
    const broker = await node();
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = deviceId("both");
      for (const session of ["new", "resumed"]) {
        const { client, connack } = await RawMqtt.device(broker, id, { clean: false });
        expect(connack).toMatchObject({ returnCode: 0 });
        // RawMqtt gives up after 3 s: before the fix, no SUBACK ever came.
        const granted = await client.subscribe([topics.commands(id), topics.desired(id)]);
        expect(granted, `${session} session`).toEqual([1, 1]);
        client.send({ cmd: "disconnect" });
        await client.closed;
      }
      const stored = await redis.hkeys(`${prefix}aedes:client:${id}`);
      expect(stored.sort()).toEqual([topics.commands(id), topics.desired(id)].sort());
    }
  });
});
