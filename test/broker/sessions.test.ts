import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/clock.js";
import {
  api,
  cleanupAll,
  connectDevice,
  deviceId,
  EVENTS_SECRET,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

const EXPIRY_SECONDS = 3600;
/** Keeps the periodic reaper out of tests that call reapExpiredSessions() themselves. */
const NO_TIMER = 365 * 86_400_000;

describe("session expiry", () => {
  it("reaps a persistent session offline longer than SESSION_EXPIRY_SECONDS, with a session_expired event", async () => {
    const clock = new ManualClock(Date.now());
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({
      clock,
      sessionExpirySeconds: EXPIRY_SECONDS,
      reaperIntervalMs: NO_TIMER,
      edgeEventsUrl: receiver.url,
      edgeEventsSecret: EVENTS_SECRET,
    });
    const id = deviceId();
    const device = await connectDevice(broker, id, { clean: false });
    await device.publishAsync(`devices/${id}/state`, JSON.stringify({ fw: "1" }), { qos: 1 });
    await device.endAsync();
    await waitFor(async () => (await api(broker, `/v1/devices/${id}`)).body, 2_000);
    await waitFor(async () => !(await api(broker, `/v1/devices/${id}`)).body?.toString().includes("true"));
    const queued = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(queued.status).toBe(202);
    expect((await broker.stats()).persistentSessions).toBe(1);

    clock.advance(EXPIRY_SECONDS * 1000 - 1);
    expect(await broker.reapExpiredSessions()).toBe(0);
    clock.advance(2);
    expect(await broker.reapExpiredSessions()).toBe(1);

    expect((await broker.stats()).persistentSessions).toBe(0);
    expect((await api(broker, `/v1/devices/${id}`)).body).toEqual({
      id,
      online: false,
      since: null,
      lastSeen: null,
      state: null,
    });
    // The session, with its queued command, is gone: nothing to queue into, nothing delivered.
    const again = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(again.status).toBe(409);
    const returning = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    const received: string[] = [];
    returning.on("message", (_topic, payload) => received.push(payload.toString()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual([]);

    await waitFor(() => receiver.events.some((e) => e.type === "presence" && e.reason === "session_expired"));
    expect(
      receiver.events.find((e) => e.type === "presence" && e.reason === "session_expired"),
    ).toMatchObject({
      deviceId: id,
      online: false,
    });
  });

  it("keeps a session whose device came back before expiry", async () => {
    const clock = new ManualClock(Date.now());
    const broker = await startTestBroker({
      clock,
      sessionExpirySeconds: EXPIRY_SECONDS,
      reaperIntervalMs: NO_TIMER,
    });
    const id = deviceId();
    const first = await connectDevice(broker, id, { clean: false });
    await first.endAsync();
    clock.advance(EXPIRY_SECONDS * 500);
    const second = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    expect(second.connected).toBe(true);
    clock.advance(EXPIRY_SECONDS * 1000);
    expect(await broker.reapExpiredSessions()).toBe(0);
    expect((await broker.stats()).persistentSessions).toBe(1);
  });

  it("holds no per-device state after many unique sessions churned and expired", async () => {
    const clock = new ManualClock(Date.now());
    const broker = await startTestBroker({ clock, sessionExpirySeconds: 60, reaperIntervalMs: NO_TIMER });
    for (let i = 0; i < 30; i++) {
      const id = deviceId("churn");
      const device = await connectDevice(broker, id, { clean: i % 2 === 0 });
      await device.publishAsync(`devices/${id}/state`, "{}", { qos: 1 });
      await device.endAsync();
    }
    await waitFor(async () => (await broker.stats()).clients === 0);
    clock.advance(61_000);
    expect(await broker.reapExpiredSessions()).toBe(30);
    const stats = await broker.stats();
    expect(stats).toMatchObject({ clients: 0, persistentSessions: 0, pendingCommands: 0 });
  });

  it("runs the reaper on its own timer", async () => {
    const clock = new ManualClock(Date.now());
    const broker = await startTestBroker({ clock, sessionExpirySeconds: 60, reaperIntervalMs: 10_000 });
    const id = deviceId();
    const device = await connectDevice(broker, id, { clean: false });
    await device.endAsync();
    await waitFor(async () => (await broker.stats()).clients === 0);
    clock.advance(70_000);
    await waitFor(async () => (await broker.stats()).persistentSessions === 0, 2_000, "timer-driven reap");
  });
});
