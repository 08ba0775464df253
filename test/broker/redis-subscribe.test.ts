/**
 * A SUBSCRIBE of both of a device's own topics on Redis gets its SUBACK. Aedes 1.2 stores a
 * SUBSCRIBE once per granted filter, in parallel; aedes-persistence-redis waits for its own
 * broadcast with one waiter per client and first topic, so the second store's waiter replaced
 * the first's and the SUBACK never came — for every SUBSCRIBE the device SDK sends (commands
 * and desired, one packet). broker/src/sessions/redis.ts does one store per packet, in turn.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { topics } from "../../protocol/src/index.js";
import { RawMqtt } from "../security/raw-client.js";
import { cleanupAll, deleteRedisKeys, deviceId, REDIS_URL, startTestBroker } from "./helpers.js";

const prefix = `tether-test:${randomUUID().slice(0, 8)}:`;
let redis: Redis;
beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterEach(cleanupAll);
afterAll(async () => {
  await redis.quit();
  await deleteRedisKeys(prefix);
});

describe("a SUBSCRIBE of a device's two topics, on Redis", () => {
  it("is acknowledged with both granted and both stored, for a new and a resumed session", async () => {
    const broker = await startTestBroker({ redisUrl: REDIS_URL, redisKeyPrefix: prefix });
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = deviceId("both");
      for (const session of ["new", "resumed"]) {
        const { client, connack } = await RawMqtt.device(broker, id, { clean: false });
        expect(connack).toMatchObject({ returnCode: 0 });
        // RawMqtt gives up after 3 s: before the fix, no SUBACK ever came.
        const granted = await client.subscribe([topics.commands(id), topics.desired(id)]);
        expect(granted, `${session} session`).toEqual([1, 1]);
        client.send({ cmd: "disconnect" });
        await client.closed;
      }
      const stored = await redis.hkeys(`${prefix}aedes:client:${id}`);
      expect(stored.sort()).toEqual([topics.commands(id), topics.desired(id)].sort());
    }
  });
});
