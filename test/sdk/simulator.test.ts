import { afterEach, describe, expect, it } from "vitest";
import { parseCliArgs } from "../../device-sdk/src/simulator/args.js";
import { parseChurn } from "../../device-sdk/src/simulator/churn.js";
import { type Simulation, startSimulation } from "../../device-sdk/src/simulator/simulation.js";
import { DEVICE_SECRET, startTestBroker, type TestBroker } from "./helpers/tether-broker.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

describe("router simulator", () => {
  let broker: TestBroker | undefined;
  let simulation: Simulation | undefined;

  afterEach(async () => {
    await simulation?.stop();
    await broker?.close();
  });

  it("starts routers with the given ids that answer ping, get_state and set_state through the broker", async () => {
    broker = await startTestBroker();
    const prefix = `sim-${uniqueSuffix()}-`;
    simulation = startSimulation({
      routers: 3,
      brokerUrl: broker.mqttUrl,
      deviceSecret: DEVICE_SECRET,
      idPrefix: prefix,
    });
    await simulation.waitConnected(3, 10_000);
    expect(simulation.routerIds().sort()).toEqual([`${prefix}0`, `${prefix}1`, `${prefix}2`]);

    const id = `${prefix}1`;
    expect(await broker.sendCommand(id, { name: "ping" })).toMatchObject({
      status: 200,
      body: { ok: true, result: { pong: true } },
    });
    const set = await broker.sendCommand(id, { name: "set_state", params: { led: "blue" } });
    expect(set.body).toMatchObject({ ok: true, result: { led: "blue", model: "SIM-AX3000" } });
    const got = await broker.sendCommand(id, { name: "get_state" });
    expect(got.body).toMatchObject({ ok: true, result: { led: "blue" } });
    await waitFor(
      () =>
        broker?.events.some((e) => e.type === "state" && e.deviceId === id && e.state.led === "blue") ??
        false,
      "set_state reported as state",
    );
    expect(simulation.stats().commandsAnswered).toBe(3);
  });

  it("applies every kind of churn, replaces vanished routers and leaves nothing behind on stop", async () => {
    broker = await startTestBroker();
    simulation = startSimulation({
      routers: 10,
      brokerUrl: broker.mqttUrl,
      deviceSecret: DEVICE_SECRET,
      idPrefix: `churn-${uniqueSuffix()}-`,
      keepalive: 5,
      churn: { disconnect: 600, halfOpen: 600, takeover: 600, vanish: 300 },
      downtimeMs: 200,
      takeoverHoldMs: 100,
      halfOpenHoldMs: 500,
      eventIntervalMs: 200,
      backoff: { initialDelayMs: 100, maxDelayMs: 500 },
    });
    await waitFor(
      () => {
        const { churn } = simulation?.stats() ?? {
          churn: { disconnect: 0, halfOpen: 0, takeover: 0, vanish: 0 },
        };
        return churn.disconnect > 0 && churn.halfOpen > 0 && churn.takeover > 0 && churn.vanish > 0;
      },
      "every kind of churn",
      10_000,
    );
    const stats = simulation.stats();
    expect(stats.routers).toBe(10); // vanished routers were replaced by fresh ids
    expect(stats.eventsPublished).toBeGreaterThan(0);
    await simulation.stop();
    expect(simulation.stats()).toMatchObject({ routers: 0, connected: 0, zombieSockets: 0 });
  });

  it("changes its churn rates while running (the soak's --prime), and none after setChurn({})", async () => {
    broker = await startTestBroker();
    simulation = startSimulation({
      routers: 5,
      brokerUrl: broker.mqttUrl,
      deviceSecret: DEVICE_SECRET,
      idPrefix: `prime-${uniqueSuffix()}-`,
      downtimeMs: 200,
      backoff: { initialDelayMs: 100, maxDelayMs: 500 },
    });
    await simulation.waitConnected(5, 10_000);
    expect(simulation.stats().churn.disconnect).toBe(0);
    simulation.setChurn({ disconnect: 1_200 });
    await waitFor(() => (simulation?.stats().churn.disconnect ?? 0) >= 3, "churn after setChurn", 10_000);
    simulation.setChurn({});
    const after = simulation.stats().churn.disconnect;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(simulation.stats().churn.disconnect).toBe(after);
  });

  it("counts no router once stop() resolves, even one that was still booting", async () => {
    broker = await startTestBroker();
    // Every router is still deriving its password when stop() is called.
    simulation = startSimulation({
      routers: 20,
      brokerUrl: broker.mqttUrl,
      deviceSecret: DEVICE_SECRET,
      idPrefix: `early-${uniqueSuffix()}-`,
    });
    expect(simulation.stats().routers).toBe(20);
    await simulation.stop();
    expect(simulation.stats()).toMatchObject({ routers: 0, connected: 0, zombieSockets: 0 });
  });

  it("parses its command line, churn spec included, and refuses nonsense", () => {
    const parsed = parseCliArgs(
      ["--routers", "200", "--broker", "mqtt://a:1883,mqtt://b:1883", "--churn", "half-open=6,vanish=1"],
      { DEVICE_SECRET: "s" },
    );
    expect(parsed).toMatchObject({
      help: false,
      options: {
        routers: 200,
        brokerUrls: ["mqtt://a:1883", "mqtt://b:1883"],
        deviceSecret: "s",
        idPrefix: "router-",
        churn: { disconnect: 0, halfOpen: 6, takeover: 0, vanish: 1 },
      },
    });
    expect(parseCliArgs(["--help"], {})).toEqual({ help: true });
    expect(() => parseCliArgs([], {})).toThrow(/device-secret/);
    expect(() => parseChurn("explode=3")).toThrow(/bad --churn/);
    expect(() => parseCliArgs(["--routers", "-1", "--device-secret", "s"], {})).toThrow(/routers/);
  });
});
