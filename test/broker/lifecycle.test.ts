import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  deleteRedisKeys,
  deviceId,
  REDIS_URL,
  startTestBroker,
} from "./helpers.js";

const prefix = `tether-test:${deviceId("close")}:`;
afterEach(cleanupAll);
afterAll(() => deleteRedisKeys(prefix));

describe("graceful close", () => {
  it.each([
    ["in memory", {}],
    ["on Redis", { redisUrl: REDIS_URL, redisKeyPrefix: prefix }],
  ])("leaves no client, pending command or timer behind (%s)", async (_name, options) => {
    const broker = await startTestBroker(options);
    const id = deviceId();
    const device = await connectDevice(broker, id);
    answerCommands(device, id, (command) => ({ id: command.id, ok: true, result: 1 }));
    expect((await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" } })).status).toBe(200);
    const silent = deviceId();
    await connectDevice(broker, silent);
    const waiting = api(broker, `/v1/devices/${silent}/commands`, {
      body: { name: "ping", timeoutMs: 10_000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await broker.stats()).pendingCommands).toBe(1);
    const closing = broker.close();
    // A command still waiting when the broker closes is answered, not left hanging.
    expect((await waiting).status).toBeGreaterThanOrEqual(400);
    await closing;
    expect(await broker.stats()).toMatchObject({
      clients: 0,
      pendingCommands: 0,
      forwarderQueue: 0,
      timers: 0,
    });
  });
});
