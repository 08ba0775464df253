import { afterEach, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";
import {
  api,
  cleanupAll,
  closedAfter,
  connectDevice,
  connectPacket,
  DEVICE_SECRET,
  deviceId,
  EVENTS_SECRET,
  rawSocket,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

describe("dead peers die fast", () => {
  it("detects a half-open router by keepalive: 1.5 × its keepalive after it stops answering", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({ edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET });
    const id = deviceId();
    const socket = await rawSocket(broker);
    socket.write(
      connectPacket({
        clientId: id,
        username: id,
        password: await devicePassword(DEVICE_SECRET, id),
        keepalive: 1,
      }),
    );
    // The router then goes silent without a FIN: no PINGREQ, no data, socket left open.
    const elapsed = await closedAfter(socket);
    expect(elapsed).toBeGreaterThan(1_000);
    expect(elapsed).toBeLessThan(2_500);
    await waitFor(
      () => receiver.events.some((e) => e.type === "presence" && !e.online),
      3_000,
      "offline event",
    );
    expect(receiver.events.filter((e) => e.type === "presence")).toMatchObject([
      { deviceId: id, online: true, reason: "connect" },
      { deviceId: id, online: false, reason: "keepalive_timeout" },
    ]);
    expect((await api(broker, `/v1/devices/${id}`)).body).toMatchObject({ online: false });
  });

  it("clamps a keepalive of 0 to the maximum, so a silent router is still dropped", async () => {
    const broker = await startTestBroker({ maxKeepaliveSeconds: 1 });
    const id = deviceId();
    const socket = await rawSocket(broker);
    socket.write(
      connectPacket({
        clientId: id,
        username: id,
        password: await devicePassword(DEVICE_SECRET, id),
        keepalive: 0,
      }),
    );
    const elapsed = await closedAfter(socket);
    expect(elapsed).toBeGreaterThan(1_000);
    expect(elapsed).toBeLessThan(2_500);
  });

  it("closes a socket that never sends CONNECT after the connect timeout", async () => {
    const broker = await startTestBroker({ connectTimeoutMs: 200 });
    const socket = await rawSocket(broker);
    const elapsed = await closedAfter(socket);
    expect(elapsed).toBeLessThan(1_000);
    const metric = await broker.metrics.refusals.get();
    expect(metric.values.find((v) => v.labels.reason === "connect_timeout")?.value).toBe(1);
  });

  it("lets a new connection with the same id take over cleanly: no false offline", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({ edgeEventsUrl: receiver.url, edgeEventsSecret: EVENTS_SECRET });
    const id = deviceId();
    const first = await connectDevice(broker, id, { clean: false });
    const firstClosed = new Promise<void>((resolve) => first.once("close", () => resolve()));
    await connectDevice(broker, id, { clean: false });
    await firstClosed;
    await waitFor(() => receiver.events.length >= 2, 3_000, "two presence events");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.events.filter((e) => e.type === "presence")).toMatchObject([
      { online: true, reason: "connect" },
      { online: true, reason: "takeover" },
    ]);
    expect((await api(broker, `/v1/devices/${id}`)).body).toMatchObject({ online: true });
    expect((await broker.stats()).clients).toBe(1);
  });
});
