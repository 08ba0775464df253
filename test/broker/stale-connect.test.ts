import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";
import {
  api,
  cleanupAll,
  connectDevice,
  connectPacket,
  DEVICE_SECRET,
  deleteRedisKeys,
  deviceId,
  EVENTS_SECRET,
  onCleanup,
  REDIS_URL,
  rawSocket,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

const prefix = `tether-test:${randomUUID().slice(0, 8)}:`;
afterAll(() => deleteRedisKeys(prefix));

const modes = [
  { mode: "memory", options: {} },
  { mode: "Redis", options: { redisUrl: REDIS_URL, redisKeyPrefix: prefix } },
];

/**
 * A router whose connect attempt timed out (the SDK's 10 s connect timeout) has closed
 * that socket and moved on; its CONNECT may still sit in the broker's accept backlog, or
 * be authenticating. When the broker gets to it, it must not take over the router's newer,
 * live connection (Aedes closes the older client of the same id [MQTT-3.1.4-2]): the router
 * would be dropped and sent round its backoff again (docs/BENCHMARKS.md, "Reconnect storm").
 */
describe.each(modes)("a CONNECT whose client already gave up ($mode mode)", ({ options }) => {
  it("does not take over the live connection of the same id", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({
      edgeEventsUrl: receiver.url,
      edgeEventsSecret: EVENTS_SECRET,
      ...options,
    });
    const id = deviceId();
    const live = await connectDevice(broker, id, { clean: false });
    let liveClosed = false;
    live.on("close", () => {
      liveClosed = true;
    });
    await waitFor(() => receiver.events.length >= 1, 3_000, "the live router's presence");

    // The stale attempt: its CONNECT and its FIN reach the broker together.
    const stale = await rawSocket(broker);
    const password = await devicePassword(DEVICE_SECRET, id);
    stale.end(connectPacket({ clientId: id, username: id, password, keepalive: 60, clean: false }));
    stale.destroySoon();
    await closed(stale);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(liveClosed).toBe(false);
    expect(live.connected).toBe(true);
    expect((await broker.stats()).clients).toBe(1);
    expect((await api(broker, `/v1/devices/${id}`)).body).toMatchObject({ online: true });
    expect(receiver.events.filter((e) => e.type === "presence")).toMatchObject([
      { deviceId: id, online: true, reason: "connect" },
    ]);
    const refusals = await broker.metrics.refusals.get();
    expect(refusals.values.find((v) => v.labels.reason === "connect_abandoned")?.value).toBe(1);
    // The live router still gets its commands.
    const received = new Promise<string>((resolve) => live.once("message", (topic) => resolve(topic)));
    const sent = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping", timeoutMs: 200 } });
    expect(sent.status).toBe(504);
    expect(await received).toBe(`devices/${id}/commands`);
  });

  it("still lets a live new connection take over an old one", async () => {
    const broker = await startTestBroker(options);
    const id = deviceId();
    const old = await connectDevice(broker, id, { clean: false });
    const oldClosed = new Promise<void>((resolve) => old.once("close", () => resolve()));
    const fresh = await connectDevice(broker, id, { clean: false });
    await oldClosed;
    expect(fresh.connected).toBe(true);
    expect((await broker.stats()).clients).toBe(1);
  });
});

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
}

/**
 * The window after the checks: the CONNECT passed them and its presence claim is being
 * stored (a Redis round trip, slowed here by `CLIENT PAUSE … WRITE` on the run's private
 * Redis) when its client gives up. The claim then lands and replaces the live connection's
 * record, and the closed connection's release marks the router offline. The live connection
 * must not stay up behind an offline record (no command would reach it, and its keepalive
 * would hold it so for good): it is taken over, as registration would have done, and the
 * router's reconnect is let in.
 */
describe("a CONNECT whose client gives up while its claim is stored (Redis mode)", () => {
  it("leaves no live connection behind an offline record", async () => {
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({
      edgeEventsUrl: receiver.url,
      edgeEventsSecret: EVENTS_SECRET,
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
    });
    const id = deviceId();
    const live = await connectDevice(broker, id, { clean: false });
    await waitFor(() => receiver.events.length >= 1, 3_000, "the live router's presence");
    const accepted = async () =>
      (await broker.metrics.authAccepted.get()).values.reduce((n, v) => n + v.value, 0);
    expect(await accepted()).toBe(1);

    const redis = new Redis(REDIS_URL);
    onCleanup(() => redis.quit());
    const stale = await rawSocket(broker);
    const password = await devicePassword(DEVICE_SECRET, id);
    // Writes wait from here until the stale socket is gone (at most 5 s, should this test fail
    // in between): the claim is held between the checks and its landing.
    await redis.call("CLIENT", "PAUSE", "5000", "WRITE");
    try {
      stale.write(connectPacket({ clientId: id, username: id, password, keepalive: 60, clean: false }));
      await waitFor(async () => (await accepted()) === 2, 3_000, "the stale CONNECT past the checks");
      stale.destroy();
      // Time for the broker to read the close while the claim is still held.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await redis.call("CLIENT", "UNPAUSE");
    }

    const offline = await waitFor(
      () => receiver.events.find((e) => e.type === "presence" && e.online === false),
      3_000,
      "the record's offline event",
    );
    expect(offline).toMatchObject({ deviceId: id, online: false });
    // Without the takeover the live connection stayed up here, behind an offline record.
    await waitFor(() => !live.connected, 3_000, "the live connection taken over");
    expect((await api(broker, `/v1/devices/${id}`)).body).toMatchObject({ online: false });
    await waitFor(async () => (await broker.stats()).clients === 0, 2_000, "no client left");
    const refusals = await broker.metrics.refusals.get();
    expect(refusals.values.find((v) => v.labels.reason === "connect_abandoned")?.value).toBe(1);

    // The router's reconnect is let in and gets its commands.
    const again = await connectDevice(broker, id, { clean: false });
    await waitFor(
      async () => ((await api(broker, `/v1/devices/${id}`)).body as { online?: boolean }).online === true,
      3_000,
      "online again",
    );
    const received = new Promise<string>((resolve) => again.once("message", (topic) => resolve(topic)));
    const sent = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping", timeoutMs: 200 } });
    expect(sent.status).toBe(504);
    expect(await received).toBe(`devices/${id}/commands`);
    expect((await broker.stats()).clients).toBe(1);
  });
});
