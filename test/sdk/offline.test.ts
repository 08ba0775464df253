import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectDevice, type Device } from "../../device-sdk/src/index.js";
import { type PlainBroker, startPlainBroker } from "./helpers/aedes-broker.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { type Operator, startOperator } from "./helpers/operator.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

// Outages are made by a TCP proxy between the device and a plain Aedes; the device runs
// on a fake clock, so it reconnects exactly when the test advances time.
describe("device offline", () => {
  let broker: PlainBroker;
  let proxy: TcpProxy;
  let operator: Operator;
  let device: Device;
  let clock: FakeClock;
  let deviceId: string;

  beforeEach(async () => {
    broker = await startPlainBroker();
    proxy = await startTcpProxy(broker.port);
    deviceId = `dev-${uniqueSuffix()}`;
    operator = await startOperator(broker.url, deviceId);
    clock = new FakeClock(Date.now());
  });

  afterEach(async () => {
    await device?.close();
    await operator.close();
    await proxy.close();
    await broker.close();
  });

  async function goOffline(): Promise<void> {
    proxy.down();
    await waitFor(() => device.status === "reconnecting", "device offline");
  }

  async function comeBack(): Promise<void> {
    proxy.up();
    clock.runNext(); // the pending reconnect, whatever its jittered delay
    await device.whenOnline();
  }

  it("sends only the latest state after an outage, merged from every report made offline", async () => {
    device = connectDevice({ deviceId, password: "unused", url: proxy.url, clock });
    await device.whenOnline();
    device.reportState({ a: 1 });
    await waitFor(() => operator.states.length === 1, "first state");

    await goOffline();
    device.reportState({ b: 2 });
    device.reportState({ b: 3 });
    device.reportState({ c: 4 });
    await comeBack();

    await waitFor(() => operator.states.length === 2, "state after reconnect");
    await new Promise((resolve) => setTimeout(resolve, 100)); // nothing else trickles in
    expect(operator.states).toEqual([{ a: 1 }, { a: 1, b: 3, c: 4 }]);
    expect(device.stats().statePublishes).toBe(2);
    expect(device.state).toEqual({ a: 1, b: 3, c: 4 });
  });

  it("replaces the whole state when asked to", async () => {
    device = connectDevice({ deviceId, password: "unused", url: proxy.url, clock });
    device.reportState({ a: 1, b: 2 });
    device.reportState({ c: 3 }, { replace: true });
    await device.whenOnline();
    await waitFor(() => operator.states.length === 1, "state");
    expect(operator.states[0]).toEqual({ c: 3 });
  });

  it("keeps at most maxQueuedEvents while offline, drops the oldest and counts them", async () => {
    device = connectDevice({ deviceId, password: "unused", url: proxy.url, clock, maxQueuedEvents: 100 });
    await device.whenOnline();
    await goOffline();
    for (let i = 0; i < 5_000; i++) device.emit("tick", { i });
    expect(device.stats()).toMatchObject({ queuedEvents: 100, droppedEvents: 4_900 });

    await comeBack();
    await waitFor(() => operator.events.length === 100, "queued events delivered");
    expect(operator.events[0]).toEqual({ name: "tick", data: { i: 4_900 } });
    expect(operator.events[99]).toEqual({ name: "tick", data: { i: 4_999 } });
    expect(device.stats()).toMatchObject({ queuedEvents: 0, droppedEvents: 4_900, inFlight: 0 });
  });

  it("never has more than maxInFlight publishes awaiting PUBACK", async () => {
    device = connectDevice({ deviceId, password: "unused", url: proxy.url, clock, maxInFlight: 4 });
    await device.whenOnline();
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      device.emit("burst", i);
      peak = Math.max(peak, device.stats().inFlight);
    }
    await waitFor(() => operator.events.length === 200, "all events");
    expect(peak).toBe(4);
    expect(operator.events.map((e) => e.data)).toEqual([...Array(200).keys()]);
  });

  it("re-publishes a result whose PUBACK was lost with the connection", async () => {
    device = connectDevice({ deviceId, password: "unused", url: proxy.url, clock });
    await device.whenOnline();
    let runs = 0;
    device.command("once", () => {
      runs++;
      // Cut the device → broker direction before the result (and PUBACK) leave.
      proxy.dropUpstream();
      return "ran";
    });
    await operator.sendCommand({ id: "r1", name: "once", params: null, expiresAt: Date.now() + 60_000 });
    await waitFor(() => runs === 1, "handler ran");
    await goOffline();
    await comeBack();
    // The broker redelivers the unacknowledged command; the device answers from its cache.
    await waitFor(() => operator.results.length >= 1, "result after reconnect");
    expect(runs).toBe(1);
    expect(operator.results[0]).toEqual({ id: "r1", ok: true, result: "ran" });
  });
});
