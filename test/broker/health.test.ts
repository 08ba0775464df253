/**
 * Issue 12: `/healthz` says `degraded` (503, with the reason) while the edge refuses or
 * does not answer, or Redis is unreachable; it recovers with no restart. A Redis outage
 * under a connected fleet (a redis-server of the test's own, stopped and started): the
 * routers stay connected, a new CONNECT is refused with "server unavailable", nothing
 * crashes, and everything works again when Redis is back.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";
import { PrivateRedis } from "./fixtures/private-redis.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  DEVICE_SECRET,
  deviceId,
  EVENTS_SECRET,
  onCleanup,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

/** An edge stand-in whose answer the test switches. */
async function switchableEdge(): Promise<{ url: string; status: { value: number } }> {
  const status = { value: 503 };
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on("end", () => response.writeHead(status.value).end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/internal/events`, status };
}

async function health(broker: Awaited<ReturnType<typeof startTestBroker>>) {
  const response = await fetch(`${broker.httpUrl}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls /healthz until it answers 503, and returns that answer. */
async function untilDegraded(broker: Awaited<ReturnType<typeof startTestBroker>>) {
  let last = await health(broker);
  await waitFor(async () => {
    last = await health(broker);
    return last.status === 503;
  });
  return last;
}

describe("/healthz", () => {
  it("says degraded (503, edge_unreachable) while the edge keeps failing past the grace, and ok once it answers", async () => {
    const edge = await switchableEdge();
    const broker = await startTestBroker({
      edgeEventsUrl: edge.url,
      edgeEventsSecret: EVENTS_SECRET,
      edgeDegradedAfterMs: 300,
    });
    expect(await health(broker)).toEqual({ status: 200, body: { ok: true, status: "ok" } });
    await connectDevice(broker, deviceId()); // a presence event: the forwarder starts trying

    const degraded = await untilDegraded(broker);
    expect(degraded.body).toEqual({
      ok: false,
      status: "degraded",
      reasons: [
        {
          code: "edge_unreachable",
          message: expect.stringContaining("HTTP 503"),
          since: expect.any(Number),
        },
      ],
    });

    edge.status.value = 200;
    await waitFor(async () => (await health(broker)).status === 200, 5_000, "healthy again");
  });
});

describe("a Redis outage under a connected fleet", () => {
  it("keeps routers connected, refuses new CONNECTs as server unavailable, reports it, and recovers", async () => {
    const redis = await PrivateRedis.start();
    onCleanup(() => redis.destroy());
    const broker = await startTestBroker({ redisUrl: redis.url, redisKeyPrefix: "outage:" });
    const ids = [deviceId("fleet"), deviceId("fleet"), deviceId("fleet")];
    const routers = await Promise.all(ids.map((id) => connectDevice(broker, id)));
    for (const [i, router] of routers.entries()) {
      answerCommands(router, ids[i] ?? "", (command) => ({ id: command.id, ok: true, result: "pong" }));
    }
    expect((await health(broker)).status).toBe(200);

    await redis.stop();
    const degraded = await untilDegraded(broker);
    expect(degraded.body).toMatchObject({
      status: "degraded",
      reasons: [{ code: "redis_unreachable", message: expect.stringContaining("redis not ready") }],
    });
    const newcomer = deviceId("late");
    const refused = await mqtt
      .connectAsync(broker.mqttUrl, {
        clientId: newcomer,
        username: newcomer,
        password: await devicePassword(DEVICE_SECRET, newcomer),
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      })
      .then(
        (client) => client.endAsync(true).then(() => null),
        (error: unknown) => error,
      );
    expect(refused).toMatchObject({ code: 3 }); // CONNACK 3: server unavailable
    // A router already connected keeps its connection, and may keep publishing.
    await routers[0]?.publishAsync(`devices/${ids[0]}/state`, JSON.stringify({ during: "outage" }), {
      qos: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(routers.every((router) => router.connected)).toBe(true);

    await redis.start();
    await waitFor(async () => (await health(broker)).status === 200, 15_000, "healthy after Redis returns");
    const back = await connectDevice(broker, newcomer);
    expect(back.connected).toBe(true);
    const answer = await api(broker, `/v1/devices/${ids[1]}/commands`, { body: { name: "ping" } });
    expect(answer).toMatchObject({ status: 200, body: { ok: true, result: "pong" } });
    expect(routers.every((router) => router.connected)).toBe(true);
  }, 30_000);
});
