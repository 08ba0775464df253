/**
 * Issue 10, attack 6: a revoked router used to stay connected (revocation was
 * checked only at CONNECT). Revoking through the API, the Redis set or
 * REVOKED_DEVICES now takes effect on a connected device within 5 s on every
 * node: disconnected with presence reason `revoked`, its session and queued
 * commands removed (their callers get `session_expired`), its reconnect refused.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrokerOptions, RunningBroker } from "../../broker/src/index.js";
import { devicePassword, type TetherEvent } from "../../protocol/src/index.js";
import {
  api,
  cleanupAll,
  connectDevice,
  DEVICE_SECRET,
  deleteRedisKeys,
  deviceId,
  EVENTS_SECRET,
  type EventReceiver,
  REDIS_URL,
  startEventReceiver,
  startTestBroker,
  tryConnect,
  waitFor,
} from "../broker/helpers.js";
import { failureSteps } from "../setup/steps.js";

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

/** The bound: a revocation reaches a connected device within 5 s. */
const WITHIN_MS = 5_000;

function node(receiver: EventReceiver, options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  return startTestBroker({
    redisUrl: REDIS_URL,
    redisKeyPrefix: prefix,
    edgeEventsUrl: receiver.url,
    edgeEventsSecret: EVENTS_SECRET,
    ...options,
  });
}

/** Resolves with the ms until the client's connection closes. */
function closedWithin(client: MqttClient, ms: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    client.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

async function connectsAgain(broker: RunningBroker, id: string): Promise<Error | null> {
  return tryConnect(broker, {
    clientId: id,
    username: id,
    password: await devicePassword(DEVICE_SECRET, id),
  });
}

function presence(events: TetherEvent[], id: string) {
  return events.filter((e) => e.type === "presence" && e.deviceId === id);
}

/**
 * Each test takes 1–2 s (its 5 s bounds are asserted on their own); the limit only catches a
 * hang. On 2026-11-30 (a slow machine) the first test, 0.4 s as a rule, ran into the old 15 s
 * limit once in npm test's nice-19 lane (not reproduced in 20 runs alone). The file now runs in
 * the timing lane, where wall-clock bounds belong (vitest.config.ts).
 */
const TEST_TIMEOUT = { timeout: 60_000 };

describe("live revocation on two Redis nodes", TEST_TIMEOUT, () => {
  it("POST /v1/devices/{id}/revoke on one node disconnects the device on the other, removes its session and queued commands", async ({
    onTestFailed,
  }) => {
    // It once ran into its time limit (0.4 s as a rule): a failure names the step it was in.
    const { at, mark } = failureSteps("broker-revocation", onTestFailed);
    const receiver = await at("event receiver", startEventReceiver());
    const a = await at("node a", node(receiver));
    const b = await at("node b", node(receiver));
    const id = deviceId("revoked");
    const device = await at("connect", connectDevice(a, id, { clean: false }));
    // A command the device never answers: after its wait it is queued in the session (202).
    const queued = await at(
      "queue a command",
      api(b, `/v1/devices/${id}/commands`, { body: { name: "hang", timeoutMs: 100, queue: true } }),
    );
    expect(queued.status).toBe(202);
    const commandId = (queued.body as { id: string }).id;
    expect(await redis.exists(`${prefix}aedes:client:${id}`)).toBe(1);

    const closed = closedWithin(device, WITHIN_MS);
    const revoked = await at("revoke", api(b, `/v1/devices/${id}/revoke`, { method: "POST" }));
    mark("after revoke");
    expect(revoked).toEqual({ status: 200, body: { id, revoked: true } });
    console.log(`revoked through the API: disconnected after ${(await closed).toFixed(0)} ms`);

    await waitFor(() => presence(receiver.events, id).some((e) => e.type === "presence" && !e.online), 3_000);
    expect(presence(receiver.events, id).at(-1)).toMatchObject({ online: false, reason: "revoked" });
    await waitFor(() => receiver.events.some((e) => e.type === "command_result"), 3_000, "command_result");
    expect(receiver.events.filter((e) => e.type === "command_result")).toEqual([
      expect.objectContaining({
        deviceId: id,
        id: commandId,
        ok: false,
        error: expect.objectContaining({ code: "session_expired" }),
      }),
    ]);
    expect(await redis.exists(`${prefix}aedes:client:${id}`, `${prefix}queued:${id}`)).toBe(0);

    expect((await connectsAgain(a, id))?.message).toMatch(/Not authorized/i);
    expect((await connectsAgain(b, id))?.message).toMatch(/Not authorized/i);
    const command = await api(a, `/v1/devices/${id}/commands`, { body: { name: "ping", queue: true } });
    expect(command).toMatchObject({ status: 403, body: { error: { code: "revoked" } } });

    expect(await api(a, `/v1/devices/${id}/revoke`, { method: "DELETE" })).toEqual({
      status: 200,
      body: { id, revoked: false },
    });
    expect(await connectsAgain(b, id)).toBeNull();
  });

  it("an id added to the Redis set disconnects the device within 5 s", async () => {
    const receiver = await startEventReceiver();
    const a = await node(receiver);
    const id = deviceId("redis-set");
    const device = await connectDevice(a, id);
    const closed = closedWithin(device, WITHIN_MS);
    await redis.sadd(`${prefix}revoked`, id);
    console.log(`revoked in the Redis set: disconnected after ${(await closed).toFixed(0)} ms`);
    await waitFor(() => presence(receiver.events, id).length === 2, 3_000);
    expect(presence(receiver.events, id).at(-1)).toMatchObject({ online: false, reason: "revoked" });
    expect((await connectsAgain(a, id))?.message).toMatch(/Not authorized/i);
  });

  it("a node started with REVOKED_DEVICES disconnects the device from the other node within 5 s, and keeps it revoked", async () => {
    const receiver = await startEventReceiver();
    const a = await node(receiver);
    const id = deviceId("configured");
    const device = await connectDevice(a, id);
    const closed = closedWithin(device, WITHIN_MS);
    const c = await node(receiver, { revokedDevices: [id] });
    console.log(`revoked by REVOKED_DEVICES: disconnected after ${(await closed).toFixed(0)} ms`);
    expect((await connectsAgain(a, id))?.message).toMatch(/Not authorized/i);
    const lift = await api(c, `/v1/devices/${id}/revoke`, { method: "DELETE" });
    expect(lift).toMatchObject({ status: 409, body: { error: { code: "revoked" } } });
    expect((await connectsAgain(c, id))?.message).toMatch(/Not authorized/i);
  });
});

describe("live revocation in memory", TEST_TIMEOUT, () => {
  it("disconnects at once with presence reason revoked, refuses the reconnect, and lets it back when lifted", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({ edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET });
    const id = deviceId("revoked");
    const device = await connectDevice(broker, id, { clean: false });
    const closed = closedWithin(device, WITHIN_MS);
    expect((await api(broker, `/v1/devices/${id}/revoke`, { method: "POST" })).status).toBe(200);
    expect(await closed).toBeLessThan(1_000);
    await waitFor(() => presence(receiver.events, id).length === 2, 3_000);
    expect(presence(receiver.events, id).at(-1)).toMatchObject({ online: false, reason: "revoked" });
    expect((await connectsAgain(broker, id))?.message).toMatch(/Not authorized/i);
    expect((await api(broker, "/v1/devices/not%20an%20id/revoke", { method: "POST" })).status).toBe(400);
    expect((await api(broker, `/v1/devices/${id}/revoke`, { method: "DELETE" })).status).toBe(200);
    expect(await connectsAgain(broker, id)).toBeNull();
    expect((await api(broker, `/v1/devices/${id}/revoke`, { method: "POST", token: "wrong" })).status).toBe(
      401,
    );
  });
});
