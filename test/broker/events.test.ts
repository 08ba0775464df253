import { afterEach, describe, expect, it } from "vitest";
import {
  cleanupAll,
  connectDevice,
  deviceId,
  EVENTS_SECRET,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

describe("events to the edge", () => {
  it("delivers signed presence, state and device events to a real HTTP receiver, in order", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({ edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET });
    const id = deviceId();
    const device = await connectDevice(broker, id);
    await device.publishAsync(`devices/${id}/state`, JSON.stringify({ wan: "up" }), { qos: 1, retain: true });
    await device.publishAsync(`devices/${id}/events/reboot`, JSON.stringify({ cause: "watchdog" }), {
      qos: 0,
    });
    await device.endAsync();
    await waitFor(() => receiver.events.length >= 4, 3_000, "four events");
    expect(receiver.events).toMatchObject([
      { type: "presence", deviceId: id, online: true, reason: "connect", ts: expect.any(Number) },
      { type: "state", deviceId: id, state: { wan: "up" } },
      { type: "event", deviceId: id, name: "reboot", data: { cause: "watchdog" } },
      { type: "presence", deviceId: id, online: false, reason: "disconnect" },
    ]);
    expect(receiver.signatures.length).toBeGreaterThan(0);
    expect(receiver.signatures.every((s) => s.ok)).toBe(true);
  });

  it("flushes buffered events on close", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({ edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET });
    const id = deviceId();
    await connectDevice(broker, id);
    await broker.close();
    expect(receiver.events.filter((e) => e.type === "presence")).toMatchObject([
      { online: true, reason: "connect" },
      { online: false, reason: "disconnect" },
    ]);
    expect((await broker.stats()).forwarderQueue).toBe(0);
  });
});
