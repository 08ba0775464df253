import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import mqtt from "mqtt";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { BrokerOptions } from "../../broker/src/index.js";
import { devicePassword, type TetherEvent } from "../../protocol/src/index.js";
import {
  API_TOKEN,
  api,
  cleanupAll,
  DEVICE_SECRET,
  deleteRedisKeys,
  deviceId,
  EVENTS_SECRET,
  onCleanup,
  REDIS_URL,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

/**
 * Redis mode, a node that dies without a graceful close (SIGKILL): its devices
 * must not stay "online". Heartbeats here are fast (100 ms, TTL 500 ms) so the
 * test takes about a second; production defaults are 5 s / 15 s.
 */
const prefix = `tether-test:${randomUUID().slice(0, 8)}:`;
const HEARTBEAT_MS = 100;
const TTL_MS = 500;
const FIXTURE = fileURLToPath(new URL("./fixtures/redis-node.ts", import.meta.url));

afterEach(cleanupAll);
afterAll(() => deleteRedisKeys(prefix));

const base = {
  redisUrl: REDIS_URL,
  redisKeyPrefix: prefix,
  nodeHeartbeatMs: HEARTBEAT_MS,
  nodeTtlMs: TTL_MS,
};

function node(options: Partial<BrokerOptions> = {}) {
  return startTestBroker({ ...base, ...options });
}

/** A broker node in a child process, so it can be killed with SIGKILL. */
async function childNode(options: Partial<BrokerOptions>): Promise<{ mqttUrl: string; child: ChildProcess }> {
  const json = JSON.stringify({
    deviceSecret: DEVICE_SECRET,
    brokerApiToken: API_TOKEN,
    ...base,
    ...options,
  });
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, json], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  onCleanup(() => child.kill("SIGKILL"));
  const mqttPort = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`node exited early (${code})`)));
    child.once("message", (message: unknown) => {
      const port = typeof message === "object" && message !== null ? Reflect.get(message, "mqttPort") : null;
      if (typeof port === "number") resolve(port);
      else reject(new Error("no port from the child node"));
    });
  });
  return { mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, child };
}

async function connectRouter(url: string, id: string) {
  const client = await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: await devicePassword(DEVICE_SECRET, id),
    protocolVersion: 4,
    reconnectPeriod: 0,
    clean: false,
  });
  client.on("error", () => {});
  onCleanup(() => client.endAsync(true));
  return client;
}

const offlineEvents = (events: TetherEvent[], id: string) =>
  events.filter((e) => e.type === "presence" && e.deviceId === id && !e.online);

// The timing asserted is the broker's (killedAt → offline); the test's own time is mostly a
// `node --import tsx` child starting, which on a loaded 2-core machine takes seconds.
describe("node liveness on Redis", { timeout: 30_000 }, () => {
  it("reports the routers of a killed node offline within the heartbeat TTL, with exactly one presence event", async () => {
    const receiver = await startEventReceiver();
    const events = { edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET };
    const b = await node(events);
    const c = await node(events);
    const a = await childNode(events);
    const id = deviceId();
    await connectRouter(a.mqttUrl, id);
    await waitFor(async () => ((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online);

    a.child.kill("SIGKILL");
    const killedAt = Date.now();
    await waitFor(
      async () => !((await api(c, `/v1/devices/${id}`)).body as { online: boolean }).online,
      5_000,
      "device offline",
    );
    // TTL, plus one heartbeat of the last refresh, plus polling slack.
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + HEARTBEAT_MS + 1_000);
    const command = await api(b, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(command).toMatchObject({ status: 409, body: { error: { code: "device_offline" } } });

    await waitFor(() => offlineEvents(receiver.events, id).length > 0, 3_000, "offline presence event");
    // Both live nodes keep sweeping; give them several rounds to (wrongly) report it again.
    await new Promise((resolve) => setTimeout(resolve, 5 * HEARTBEAT_MS));
    expect(offlineEvents(receiver.events, id)).toEqual([
      expect.objectContaining({ type: "presence", deviceId: id, online: false, reason: "error" }),
    ]);
  });

  it("reads a dead node's router as offline at once, and two nodes sweeping together report it once", async () => {
    // Sweeps only on demand: the heartbeat interval is longer than the test.
    const slow = { nodeHeartbeatMs: 60_000, nodeTtlMs: 120_000 };
    const b = await node(slow);
    const c = await node(slow);
    const a = await childNode({});
    const id = deviceId();
    await connectRouter(a.mqttUrl, id);
    await waitFor(async () => ((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online);

    a.child.kill("SIGKILL");
    await waitFor(
      async () => !((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online,
      TTL_MS + 2_000,
      "offline read before any sweep",
    );
    const [fromB, fromC] = await Promise.all([b.sweepDeadNodes(), c.sweepDeadNodes()]);
    expect(fromB + fromC).toBe(1);
    expect(await b.sweepDeadNodes()).toBe(0);
  });

  it("re-asserts its routers when its own heartbeat had lapsed and another node swept them", async () => {
    const receiver = await startEventReceiver();
    const events = { edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET };
    const a = await node({ ...events, nodeHeartbeatMs: 300, nodeTtlMs: 60_000 });
    const b = await node({ ...events, nodeHeartbeatMs: 60_000, nodeTtlMs: 120_000 });
    const id = deviceId();
    await connectRouter(a.mqttUrl, id);
    await waitFor(async () => ((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online);

    // A stall or Redis outage longer than the TTL, as seen from Redis.
    const redis = new Redis(REDIS_URL);
    onCleanup(() => redis.quit());
    await redis.del(`${prefix}node:${a.nodeId}`);
    expect(await b.sweepDeadNodes()).toBe(1);
    expect((await api(b, `/v1/devices/${id}`)).body).toMatchObject({ online: false });

    await waitFor(
      async () => ((await api(b, `/v1/devices/${id}`)).body as { online: boolean }).online,
      3_000,
      "device online again after A's next heartbeat",
    );
    await waitFor(() => receiver.events.filter((e) => e.deviceId === id).length >= 3, 3_000, "events");
    expect(receiver.events.filter((e) => e.type === "presence" && e.deviceId === id)).toMatchObject([
      { online: true, reason: "connect" },
      { online: false, reason: "error" },
      { online: true, reason: "connect" },
    ]);
  });

  it("removes its heartbeat and leaves the node index when it closes gracefully", async () => {
    const a = await node();
    const redis = new Redis(REDIS_URL);
    onCleanup(() => redis.quit());
    expect(await redis.exists(`${prefix}node:${a.nodeId}`)).toBe(1);
    await connectRouter(a.mqttUrl, deviceId());
    await a.close();
    expect(await redis.exists(`${prefix}node:${a.nodeId}`)).toBe(0);
    expect(await redis.sismember(`${prefix}nodes`, a.nodeId)).toBe(0);
  });

  it("keeps the routers of a live node online across many heartbeats", async () => {
    const a = await node();
    const b = await node();
    const id = deviceId();
    await connectRouter(a.mqttUrl, id);
    await new Promise((resolve) => setTimeout(resolve, 3 * TTL_MS));
    expect(await b.sweepDeadNodes()).toBe(0);
    expect((await api(b, `/v1/devices/${id}`)).body).toMatchObject({ online: true });
  });
});
