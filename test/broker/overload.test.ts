import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, type RunningBroker } from "../../broker/src/index.js";
import { bearer } from "../../protocol/src/index.js";
import { answerCommands, cleanupAll, connectDevice, deviceId, startTestBroker, waitFor } from "./helpers.js";
import { command, holdingRouter, shedTotal } from "./overload-helpers.js";

afterEach(cleanupAll);

/** Generous: they wait on events, but the suite shares two cores. */
const SLOW_MACHINE_MS = 20_000;

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

/** `tether_commands_queue_refused_total` of one broker. */
async function queueRefusedTotal(broker: RunningBroker): Promise<number> {
  const metric = await broker.metrics.commandsQueueRefused.get();
  return metric.values[0]?.value ?? 0;
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
    "refuses commands to a device whose commands stand in a queue beyond COMMAND_QUEUE_TARGET_MS, at once with 429 and Retry-After, while the admitted ones succeed",
    async () => {
      // Time of the queueing rule is the broker's injected clock: moved by the test, never slept.
      const clock = new ManualClock(Date.now());
      const broker = await startTestBroker({ clock, commandQueueTargetMs: 5, commandQueueIntervalMs: 100 });
      const id = deviceId();
      const router = holdingRouter(await connectDevice(broker, id), id);
      const held = (n: number) => waitFor(() => router.held.length === n, 10_000, `the router to hold ${n}`);
      const slow = { name: "slow", timeoutMs: 30_000 };

      // Its quickest answer: at once.
      const first = command(broker.httpUrl, id, slow);
      await held(1);
      router.answer(1);
      expect((await first).status).toBe(200);

      // Five at once: the first to arrive queues behind nothing; the next two are answered 100 ms
      // and 200 ms late, so every answer queued beyond 5 ms for 100 ms.
      const queued = Array.from({ length: 5 }, () => command(broker.httpUrl, id, slow));
      await held(5);
      const pendingNow = async () => (await broker.stats()).pendingCommands;
      for (const [i, lateMs] of [50, 50, 100].entries()) {
        clock.advance(lateMs);
        router.answer(1);
        await waitFor(async () => (await pendingNow()) === 4 - i, 10_000, "the broker to take the answer");
      }

      // Two still pending, far below MAX_PENDING_PER_DEVICE (16): the queue's time refuses the rest.
      const excess = await Promise.all(Array.from({ length: 3 }, () => command(broker.httpUrl, id)));
      for (const answer of excess) {
        expect(answer.status).toBe(429);
        expect(answer.retryAfter).toBe("1");
        expect(answer.body).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
        expect(answer.ms).toBeLessThan(2_000);
      }
      expect(router.held.length).toBe(2);
      expect(await queueRefusedTotal(broker)).toBe(3);

      // The admitted ones still succeed; once the queue is empty the device takes commands again,
      // and an answer within the target ends the standing queue (two at once are admitted).
      router.answerAll();
      for (const answer of await Promise.all(queued)) expect(answer.status).toBe(200);
      const next = command(broker.httpUrl, id, slow);
      await held(1);
      router.answer(1);
      expect((await next).status).toBe(200);
      const two = [command(broker.httpUrl, id, slow), command(broker.httpUrl, id, slow)];
      await held(2);
      router.answerAll();
      for (const answer of await Promise.all(two)) expect(answer.status).toBe(200);
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
