import type { Aedes } from "aedes";
import { describe, expect, it } from "vitest";
import { ManualClock, TrackedClock } from "../../broker/src/clock.js";
import { PendingCommands } from "../../broker/src/commands/pending.js";
import { CommandRouter } from "../../broker/src/commands/router.js";
import type { BrokerContext } from "../../broker/src/context.js";
import { MemoryDeviceStore } from "../../broker/src/devices/store.js";
import { createBrokerLogs } from "../../broker/src/logging/broker-logs.js";
import { createBrokerMetrics } from "../../broker/src/metrics.js";
import type { SessionPersistence } from "../../broker/src/sessions/persistence.js";
import { resolveSettings } from "../../broker/src/settings.js";
import type { CommandResult, TetherEvent } from "../../protocol/src/index.js";
import { testLogger } from "./helpers.js";

/**
 * A `queue: true` command whose wait times out exactly as its result lands. The
 * window is one store round trip (in Redis mode, between the wait's end and the
 * queued record being written), which real sockets cannot hit on demand; so the
 * router runs here on its real pending table and an in-memory store whose
 * `addQueued` the test holds open, and the test plays the two other parties: the
 * bus delivering the result to the waiting node, and the device's node looking
 * for a queued record (ingest's `takeQueued`).
 */

const DEVICE = "router-race";

function setup() {
  const manual = new ManualClock(Date.now());
  const clock = new TrackedClock(manual);
  const events: TetherEvent[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  class HeldStore extends MemoryDeviceStore {
    override async addQueued(...args: Parameters<MemoryDeviceStore["addQueued"]>): Promise<boolean> {
      await gate;
      return super.addQueued(...args);
    }
  }
  const store = new HeldStore();
  const ctx: BrokerContext = {
    settings: resolveSettings({ deviceSecret: "s", brokerApiToken: "t" }),
    nodeId: "node-b",
    clock,
    logger: testLogger,
    logs: createBrokerLogs(testLogger, 10_000),
    metrics: createBrokerMetrics(),
    store,
    events: {
      push: (event) => events.push(event),
      pushEncoded: (encoded) => events.push(JSON.parse(encoded.json) as TetherEvent),
    },
  };
  const published: string[] = [];
  const aedes = {
    publish(packet: { payload: Buffer }, callback: () => void) {
      published.push(packet.payload.toString());
      callback();
    },
  } as unknown as Aedes;
  const persistence = {
    subscriptionsByTopic: async (topic: string) => [{ clientId: DEVICE, topic, qos: 1 }],
  } as unknown as SessionPersistence;
  const pending = new PendingCommands(clock, { maxGlobal: 100, maxPerDevice: 16, onChange: () => {} });
  const router = new CommandRouter(ctx, aedes, persistence, pending);
  /** What the results subscriber does when the bus brings a result. */
  const busDelivers = (result: CommandResult) => {
    if (!pending.resolve(DEVICE, result)) router.unclaimedResult(DEVICE, result);
  };
  /** What the device's node does with the same result (mqtt/ingest.ts). */
  const deviceNodeIngests = async (result: CommandResult) => {
    if (await store.takeQueued(DEVICE, result.id))
      events.push({ type: "command_result", deviceId: DEVICE, ts: 0, ...result });
  };
  return { manual, clock, store, events, release, router, published, busDelivers, deviceNodeIngests };
}

async function sendTimingOut(t: ReturnType<typeof setup>) {
  await t.store.connect(DEVICE, { connId: 1, nodeId: "node-a", persistent: true, now: t.manual.now() });
  const reply = t.router.send(DEVICE, { name: "update", queue: true, timeoutMs: 100 });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const command: { id: string } = JSON.parse(t.published[0] ?? "{}");
  t.manual.advance(100); // the wait times out; the router now writes the queued record (held)
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { reply, result: { id: command.id, ok: true as const, result: "done" } };
}

const results = (events: TetherEvent[]) => events.filter((e) => e.type === "command_result");

describe("a queued command whose result lands as its wait times out", () => {
  it("answers 200 with the result when it lands before the queued record is written", async () => {
    const t = setup();
    const { reply, result } = await sendTimingOut(t);
    t.busDelivers(result);
    await t.deviceNodeIngests(result); // finds no queued record yet
    t.release();
    expect(await reply).toMatchObject({ status: 200, body: { id: result.id, ok: true, result: "done" } });
    expect(results(t.events)).toEqual([]);
    expect(t.clock.liveTimers).toBe(0);
  });

  it("sends it once as a command_result event when it lands just after the 202", async () => {
    const t = setup();
    const { reply, result } = await sendTimingOut(t);
    await t.deviceNodeIngests(result); // before the record exists: finds nothing
    t.release();
    expect(await reply).toMatchObject({ status: 202, body: { id: result.id, queued: true } });
    t.busDelivers(result); // the bus brings it to the waiting node a moment later
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(results(t.events)).toEqual([expect.objectContaining({ id: result.id, ok: true, result: "done" })]);
    expect(t.clock.liveTimers).toBe(0);
  });

  it("leaves it to the device's node when that node finds the queued record", async () => {
    const t = setup();
    const { reply, result } = await sendTimingOut(t);
    t.release();
    expect(await reply).toMatchObject({ status: 202 });
    await t.deviceNodeIngests(result);
    t.busDelivers(result);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(results(t.events)).toHaveLength(1);
    t.router.close();
    expect(t.clock.liveTimers).toBe(0);
  });
});
