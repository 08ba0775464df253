import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectDevice, type Device } from "../../device-sdk/src/index.js";
import { type PlainBroker, startPlainBroker } from "./helpers/aedes-broker.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

/** A port nothing listens on: connections to it are refused at once. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("device reconnects", () => {
  let broker: PlainBroker;
  let proxy: TcpProxy;
  let device: Device;
  let clock: FakeClock;

  beforeEach(async () => {
    broker = await startPlainBroker();
    proxy = await startTcpProxy(broker.port);
    clock = new FakeClock(Date.now());
  });

  afterEach(async () => {
    await device?.close();
    await proxy.close();
    await broker.close();
  });

  it("tries its broker URLs in turn, backing off between attempts", async () => {
    const dead = `mqtt://127.0.0.1:${await deadPort()}`;
    device = connectDevice({
      deviceId: `d-${uniqueSuffix()}`,
      password: "p",
      urls: [dead, broker.url],
      clock,
    });
    const attempts: { attempt: number; url: string }[] = [];
    device.on("reconnecting", ({ attempt, url }) => attempts.push({ attempt, url }));
    await waitFor(() => attempts.length === 1, "first attempt refused");
    expect(attempts[0]).toEqual({ attempt: 0, url: broker.url });
    clock.runNext();
    await device.whenOnline();
    expect(device.stats()).toMatchObject({ connectAttempts: 2, connects: 1 });
  });

  it("keeps growing the backoff while the connection flaps, and resets it after a stable period", async () => {
    device = connectDevice({
      deviceId: `d-${uniqueSuffix()}`,
      password: "p",
      url: proxy.url,
      clock,
      backoff: { resetAfterMs: 30_000 },
    });
    const attempts: number[] = [];
    device.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    const drop = async () => {
      proxy.down();
      await waitFor(() => device.status === "reconnecting", "offline");
      proxy.up();
      clock.runNext();
      await device.whenOnline();
    };
    await device.whenOnline();
    await drop();
    await drop(); // flapping: no stable period in between
    clock.advance(30_000); // now stable
    await drop();
    expect(attempts).toEqual([0, 1, 0]);
  });

  it("goes offline and schedules a reconnect when its socket is taken over by another connection", async () => {
    const deviceId = `d-${uniqueSuffix()}`;
    device = connectDevice({ deviceId, password: "p", url: broker.url, clock });
    await device.whenOnline();
    const offline = new Promise<{ reason: string }>((resolve) => device.once("offline", resolve));
    const { connectAsync } = await import("mqtt");
    const impostor = await connectAsync(broker.url, { clientId: deviceId, clean: false, reconnectPeriod: 0 });
    expect((await offline).reason).toMatch(/closed/);
    await impostor.endAsync(true);
    clock.runNext();
    await device.whenOnline();
    expect(device.stats()).toMatchObject({ connects: 2, disconnects: 1 });
  });

  it("leaves no timer behind after close, whatever state it was in", async () => {
    device = connectDevice({ deviceId: `d-${uniqueSuffix()}`, password: "p", url: proxy.url, clock });
    await device.whenOnline();
    proxy.down();
    await waitFor(() => device.status === "reconnecting", "offline");
    expect(clock.pending).toBeGreaterThan(0);
    await device.close();
    expect(clock.pending).toBe(0);
    expect(device.status).toBe("closed");
  });
});
