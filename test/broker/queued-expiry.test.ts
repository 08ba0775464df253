/**
 * Issue 12, "every command ends": a queued command (202) whose ttl passes, or whose
 * session is reaped, ends as `command_result ok:false` with `command_expired` or
 * `session_expired` — once, through the same path as a device's result — in memory
 * and on Redis; its ttl is clamped to the session expiry.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ManualClock, TrackedClock } from "../../broker/src/clock.js";
import { QUEUED_RESULT_GRACE_MS } from "../../broker/src/commands/queued-expiry.js";
import { endAllQueuedCommands } from "../../broker/src/commands/queued-outcome.js";
import type { BrokerContext } from "../../broker/src/context.js";
import { RedisDeviceStore } from "../../broker/src/devices/redis-store.js";
import { type DeviceStore, MemoryDeviceStore } from "../../broker/src/devices/store.js";
import { createBrokerLogs } from "../../broker/src/logging/broker-logs.js";
import { createBrokerMetrics } from "../../broker/src/metrics.js";
import { resolveSettings } from "../../broker/src/settings.js";
import type { TetherEvent } from "../../protocol/src/index.js";
import { failureSteps, type Step, untracked } from "../setup/steps.js";
import {
  api,
  cleanupAll,
  connectDevice,
  deleteRedisKeys,
  deviceId,
  EVENTS_SECRET,
  REDIS_URL,
  startEventReceiver,
  startTestBroker,
  testLogger,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

const prefix = `tether-test:${randomUUID().slice(0, 8)}:`;
afterAll(() => deleteRedisKeys(prefix));

/** Keeps the periodic sweeps out of tests that run them by hand. */
const NO_TIMER = 365 * 86_400_000;

const MODES = [
  ["in memory", {}],
  ["on Redis", { redisUrl: REDIS_URL, redisKeyPrefix: prefix }],
] as const;

async function brokerWithOfflineDevice(options: Record<string, unknown> = {}, at: Step = untracked) {
  const clock = new ManualClock(Date.now());
  const receiver = await at("event receiver", startEventReceiver());
  const broker = await at(
    "start the broker",
    startTestBroker({
      clock,
      commandExpiryIntervalMs: NO_TIMER,
      reaperIntervalMs: NO_TIMER,
      edgeEventsUrl: receiver.url,
      edgeEventsSecret: EVENTS_SECRET,
      ...options,
      // On Redis, keys of their own per test: a test that failed half-way left its offline
      // session under the file's prefix, and the next test's reaper counted it too (2, not 1).
      ...(typeof options.redisKeyPrefix === "string"
        ? { redisKeyPrefix: `${options.redisKeyPrefix}${randomUUID().slice(0, 8)}:` }
        : {}),
    }),
  );
  const id = deviceId();
  const device = await at("connect and subscribe", connectDevice(broker, id, { clean: false }));
  await at("disconnect", device.endAsync());
  await at(
    "no clients (broker.stats)",
    waitFor(async () => (await broker.stats()).clients === 0),
  );
  return { clock, receiver, broker, id };
}

const resultsOf = (events: TetherEvent[], id: string) =>
  events.filter((e) => e.type === "command_result" && e.id === id);

describe.each(MODES)("queued commands %s", (_mode, options) => {
  it("end as command_result command_expired once their ttl has passed, exactly once", async ({
    onTestFailed,
  }) => {
    // On Redis it ran out its 20 s twice on 2026-11-30 (a clean-clone CI run, and 1 of ~45 runs
    // of this file alone), both inside brokerWithOfflineDevice: a failure names the step.
    const { at, mark } = failureSteps("queued-expiry", onTestFailed);
    const { clock, receiver, broker, id } = await brokerWithOfflineDevice(options, at);
    const queued = await at(
      "queue the command",
      api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true, ttlMs: 5_000 } }),
    );
    expect(queued.status).toBe(202);
    const commandId = (queued.body as { id: string }).id;

    clock.advance(5_000 + QUEUED_RESULT_GRACE_MS - 1);
    expect(await at("expire before the ttl", broker.expireQueuedCommands())).toBe(0);
    clock.advance(2);
    expect(await at("expire after the ttl", broker.expireQueuedCommands())).toBe(1);
    expect(await at("expire again", broker.expireQueuedCommands())).toBe(0);

    await at(
      "command_expired reaches the edge",
      waitFor(() => resultsOf(receiver.events, commandId).length > 0),
    );
    mark("device back");
    expect(resultsOf(receiver.events, commandId)).toEqual([
      {
        type: "command_result",
        deviceId: id,
        ts: expect.any(Number),
        id: commandId,
        ok: false,
        error: { code: "command_expired", message: expect.any(String) },
      },
    ]);
    // Never delivered, and no second answer when the device comes back.
    const back = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    const received: string[] = [];
    back.on("message", (_topic, payload) => received.push(payload.toString()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual([]);
    expect(resultsOf(receiver.events, commandId)).toHaveLength(1);
  });

  it("end as command_result session_expired when their session is reaped first", async () => {
    const { clock, receiver, broker, id } = await brokerWithOfflineDevice({
      ...options,
      sessionExpirySeconds: 60,
    });
    const queued = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    const commandId = (queued.body as { id: string }).id;
    // The ttl (default 1 h) is clamped to the session expiry: the session would not outlive it.
    expect((queued.body as { expiresAt: number }).expiresAt).toBe(clock.now() + 60_000);

    clock.advance(60_001);
    expect(await broker.reapExpiredSessions()).toBe(1);
    await waitFor(() => resultsOf(receiver.events, commandId).length > 0);
    expect(resultsOf(receiver.events, commandId)).toMatchObject([
      { deviceId: id, ok: false, error: { code: "session_expired" } },
    ]);
    clock.advance(QUEUED_RESULT_GRACE_MS + 1);
    expect(await broker.expireQueuedCommands()).toBe(0);
  });
});

describe.each([
  ["in memory", () => new MemoryDeviceStore()],
  [
    "on Redis",
    async () => {
      const { Redis } = await import("ioredis");
      const redis = new Redis(REDIS_URL);
      const store = new RedisDeviceStore(redis, prefix);
      return Object.assign(store, { close: async () => void (await redis.quit()) });
    },
  ],
] as const)("ending every queued command of a device (revocation's path) %s", (_mode, makeStore) => {
  it("reports each as session_expired once, and leaves none for the result or expiry paths", async () => {
    const store: DeviceStore = await makeStore();
    // Real epoch times: Redis expires the queued key a day after its last command.
    const now = Date.now();
    const events: TetherEvent[] = [];
    const ctx: BrokerContext = {
      settings: resolveSettings({ deviceSecret: "s", brokerApiToken: "t" }),
      nodeId: "node",
      clock: new TrackedClock(new ManualClock(now)),
      logger: testLogger,
      logs: createBrokerLogs(testLogger, 10_000),
      metrics: createBrokerMetrics(),
      store,
      events: {
        push: (event) => events.push(event),
        pushEncoded: (encoded) => events.push(JSON.parse(encoded.json) as TetherEvent),
      },
    };
    const id = deviceId("revoked");
    await store.connect(id, { connId: 1, nodeId: "node", persistent: true, now });
    expect(await store.addQueued(id, "cmd-a", now + 5_000, now, 10)).toBe(true);
    expect(await store.addQueued(id, "cmd-b", now + 9_000, now, 10)).toBe(true);

    expect(await endAllQueuedCommands(ctx, id, "session_expired")).toBe(2);
    expect(events.map((e) => e.type === "command_result" && [e.id, e.error?.code])).toEqual([
      ["cmd-a", "session_expired"],
      ["cmd-b", "session_expired"],
    ]);
    expect(await store.takeQueued(id, "cmd-a")).toBe(false);
    expect(await store.expiredQueued(now + 10_000, 10)).toEqual([]);
    expect(await endAllQueuedCommands(ctx, id, "session_expired")).toBe(0);
    await store.close();
  });
});
