import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningBroker } from "../../broker/src/index.js";
import { bearer, RETRY_AFTER_HEADER } from "../../protocol/src/index.js";
import {
  API_TOKEN,
  answerCommands,
  cleanupAll,
  connectDevice,
  deviceId,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

/** Generous: they wait on events, but the suite shares two cores. */
const SLOW_MACHINE_MS = 20_000;

interface Answer {
  status: number;
  body: unknown;
  retryAfter: string | null;
  ms: number;
}

/** POSTs a command and times the answer. */
async function command(httpUrl: string, id: string, body: unknown = { name: "ping" }): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${httpUrl}/v1/devices/${id}/commands`, {
    method: "POST",
    headers: { authorization: bearer(API_TOKEN), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: await response.json(),
    retryAfter: response.headers.get(RETRY_AFTER_HEADER),
    ms: performance.now() - started,
  };
}

/** A router that takes every command and answers only when told to. */
function holdingRouter(client: MqttClient, id: string) {
  const held: Array<{ id: string }> = [];
  client.on("message", (topic, payload) => {
    if (topic !== `devices/${id}/commands`) return;
    const parsed: unknown = JSON.parse(payload.toString());
    const commandId = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "id") : undefined;
    if (typeof commandId === "string") held.push({ id: commandId });
  });
  return {
    held,
    answerAll() {
      for (const { id: commandId } of held.splice(0)) {
        client.publish(`devices/${id}/results`, JSON.stringify({ id: commandId, ok: true, result: "done" }), {
          qos: 1,
        });
      }
    },
  };
}

/** Blocks the event loop most of the time (the test's own process hosts the broker), until stopped. */
function starveEventLoop(busyMs: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    const until = performance.now() + busyMs;
    while (performance.now() < until) {
      // busy: the broker's event loop falls behind, as under more load than its CPU serves
    }
  }, everyMs);
  return () => clearInterval(timer);
}

/** `tether_commands_shed_total{reason}` of one broker. */
async function shedTotal(broker: RunningBroker, reason: string): Promise<number> {
  const metric = await broker.metrics.commandsShed.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe("admission control: overload sheds, it never collapses", () => {
  it(
    "refuses commands beyond MAX_COMMANDS_IN_FLIGHT at once with 503 and Retry-After, while the admitted ones still succeed",
    async () => {
      const broker = await startTestBroker({ maxCommandsInFlight: 4 });
      const id = deviceId();
      const router = holdingRouter(await connectDevice(broker, id), id);

      const admitted = Array.from({ length: 4 }, () =>
        command(broker.httpUrl, id, { name: "slow", timeoutMs: 30_000 }),
      );
      await waitFor(() => router.held.length === 4, 10_000, "the router to hold four commands");

      const excess = await Promise.all(Array.from({ length: 6 }, () => command(broker.httpUrl, id)));
      for (const answer of excess) {
        expect(answer.status).toBe(503);
        expect(answer.retryAfter).toBe("1");
        expect(answer.body).toEqual({ error: { code: "overloaded", message: expect.any(String) } });
        // "At once": not after a command's timeout. Generous for a loaded two-core machine.
        expect(answer.ms).toBeLessThan(2_000);
      }
      expect(await shedTotal(broker, "in_flight")).toBe(6);

      router.answerAll();
      for (const answer of await Promise.all(admitted)) {
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ ok: true, result: "done" });
      }
      // Nothing left behind: the slots are free again and the next command is served.
      await waitFor(async () => (await broker.stats()).pendingCommands === 0, 5_000, "no pending command");
      const next = command(broker.httpUrl, id);
      await waitFor(() => router.held.length === 1, 10_000, "the next command to arrive");
      router.answerAll();
      expect((await next).status).toBe(200);
    },
    SLOW_MACHINE_MS,
  );

  it(
    "sheds while the event loop lags beyond MAX_EVENT_LOOP_LAG_MS, and serves again once it catches up",
    async () => {
      const broker = await startTestBroker({ maxEventLoopLagMs: 50 });
      const id = deviceId();
      const client = await connectDevice(broker, id);
      answerCommands(client, id, (c) => ({ id: c.id, ok: true, result: "pong" }));
      expect((await command(broker.httpUrl, id)).status).toBe(200);

      const stop = starveEventLoop(150, 160);
      try {
        const shed = await waitFor(
          async () => {
            const answer = await command(broker.httpUrl, id);
            return answer.status === 503 ? answer : null;
          },
          10_000,
          "a command shed for event-loop lag",
        );
        expect(shed?.retryAfter).toBe("1");
        expect(shed?.body).toEqual({ error: { code: "overloaded", message: expect.any(String) } });
        expect(await shedTotal(broker, "event_loop_lag")).toBeGreaterThan(0);
      } finally {
        stop();
      }
      await waitFor(async () => (await command(broker.httpUrl, id)).status === 200, 10_000, "service again");
    },
    SLOW_MACHINE_MS,
  );

  it(
    "puts Retry-After on a 429 for a device at its pending bound",
    async () => {
      const broker = await startTestBroker({ maxPendingPerDevice: 1 });
      const id = deviceId();
      const router = holdingRouter(await connectDevice(broker, id), id);
      const first = command(broker.httpUrl, id, { name: "slow", timeoutMs: 30_000 });
      await waitFor(() => router.held.length === 1, 10_000, "the router to hold the first command");
      const second = await command(broker.httpUrl, id);
      expect(second.status).toBe(429);
      expect(second.retryAfter).toBe("1");
      expect(second.body).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
      expect(second.ms).toBeLessThan(2_000);
      router.answerAll();
      expect((await first).status).toBe(200);
    },
    SLOW_MACHINE_MS,
  );

  it(
    "tells only a caller with the broker's token that a device is at its pending bound",
    async () => {
      const broker = await startTestBroker({ maxPendingPerDevice: 1 });
      const id = deviceId();
      const router = holdingRouter(await connectDevice(broker, id), id);
      const first = command(broker.httpUrl, id, { name: "slow", timeoutMs: 30_000 });
      await waitFor(() => router.held.length === 1, 10_000, "the router to hold the first command");
      const stranger = await fetch(`${broker.httpUrl}/v1/devices/${id}/commands`, {
        method: "POST",
        headers: { authorization: bearer("not-the-token-at-all"), "content-type": "application/json" },
        body: JSON.stringify({ name: "ping" }),
      });
      expect(stranger.status).toBe(401);
      expect(await stranger.json()).toMatchObject({ error: { code: "unauthorized" } });
      router.answerAll();
      expect((await first).status).toBe(200);
    },
    SLOW_MACHINE_MS,
  );
});
