import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, type RunningBroker } from "../../broker/src/index.js";
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
      this.answer(held.length);
    },
    /** Answers the `count` oldest commands held. */
    answer(count: number) {
      for (const { id: commandId } of held.splice(0, count)) {
        client.publish(`devices/${id}/results`, JSON.stringify({ id: commandId, ok: true, result: "done" }), {
          qos: 1,
        });
      }
    },
  };
}

/**
 * One 100 ms window of the broker's injected clock: `count` commands over the routers, each
 * answered `answerMs` (clock time) after it arrived; then the clock moves on 100 ms. The
 * adaptive limit reads only that clock, so a busy machine cannot change what it measures.
 */
function clockedWindow(
  clock: ManualClock,
  broker: RunningBroker,
  ids: string[],
  routers: Array<ReturnType<typeof holdingRouter>>,
) {
  const slow = { name: "slow", timeoutMs: 30_000 };
  const heldInAll = () => routers.reduce((sum, router) => sum + router.held.length, 0);
  return async (count: number, answerMs: number): Promise<Answer[]> => {
    const answers = Array.from({ length: count }, (_, i) =>
      command(broker.httpUrl, ids[i % ids.length] ?? "", slow),
    );
    const settled = await waitFor(
      async () => {
        const refused = (await Promise.all(answers.map((a) => Promise.race([a, null])))).filter(
          (a) => a !== null,
        );
        return heldInAll() + refused.length === count ? true : null;
      },
      10_000,
      `${count} commands to be held or refused`,
    );
    expect(settled).toBe(true);
    clock.advance(answerMs);
    for (const router of routers) router.answerAll();
    const all = await Promise.all(answers);
    clock.advance(100);
    return all;
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

/** `tether_commands_queue_refused_total` of one broker. */
async function queueRefusedTotal(broker: RunningBroker): Promise<number> {
  const metric = await broker.metrics.commandsQueueRefused.get();
  return metric.values[0]?.value ?? 0;
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
    "lowers the in-flight limit when admitted commands slow down past COMMAND_LATENCY_TOLERANCE × their baseline: the excess is shed at once (503, reason latency), the admitted succeed, and the limit grows back",
    async () => {
      // The adaptive limit reads the broker's injected clock: the test moves it, never sleeps.
      const clock = new ManualClock(Date.now());
      const max = 32;
      const broker = await startTestBroker({ clock, maxCommandsInFlight: max, commandLatencyTolerance: 2 });
      const ids = Array.from({ length: 4 }, () => deviceId());
      const routers = await Promise.all(
        ids.map(async (id) => holdingRouter(await connectDevice(broker, id), id)),
      );
      const limit = async () => (await broker.metrics.commandsLimit.get()).values[0]?.value;
      const window = clockedWindow(clock, broker, ids, routers);

      // Baseline: half the limit or more in flight, answered in 2 ms.
      for (let w = 0; w < 3; w++) for (const answer of await window(20, 2)) expect(answer.status).toBe(200);
      expect(await limit()).toBe(max);

      // Every command now takes 50 ms (25 × the baseline): after two such windows in a row the
      // limit falls, and the excess is shed.
      for (let w = 0; w < 3; w++) await window(24, 50);
      expect(await limit()).toBeLessThan(24);
      const answers = await window(24, 50);
      const shed = answers.filter((answer) => answer.status === 503);
      expect(shed.length).toBeGreaterThan(0);
      for (const answer of shed) {
        expect(answer.retryAfter).toBe("1");
        expect(answer.body).toEqual({ error: { code: "overloaded", message: expect.any(String) } });
        expect(answer.ms).toBeLessThan(2_000);
      }
      for (const answer of answers.filter((a) => a.status !== 503)) {
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ ok: true, result: "done" });
      }
      expect(await shedTotal(broker, "latency")).toBe(shed.length);
      expect(await shedTotal(broker, "in_flight")).toBe(0);

      // Back at the baseline: it grows back to the ceiling as long as it binds.
      await waitFor(
        async () => {
          const current = (await limit()) ?? 0;
          await window(Math.max(16, Math.ceil(current / 2)), 2);
          return (await limit()) === max ? true : null;
        },
        SLOW_MACHINE_MS / 2,
        "the limit to grow back",
      );
      for (const answer of await window(max, 2)) expect(answer.status).toBe(200);
    },
    SLOW_MACHINE_MS,
  );

  it(
    "a caller without the broker's token cannot pull the adaptive limit's baseline down: its fast 401s between real commands shed none of them",
    async () => {
      // Admission runs before the token is checked. Counted, a window full of a stranger's
      // 401s (answered at once) would set the baseline near 0, and the real commands' 30 ms
      // after it would read as congestion (two windows in a row: the limit falls, and shed).
      // On the injected clock, as the test above: in real time a loaded machine made the real
      // commands genuinely slow under the stranger's flood (CI, 2 of them shed).
      const clock = new ManualClock(Date.now());
      const max = 64;
      const broker = await startTestBroker({ clock, maxCommandsInFlight: max, commandLatencyTolerance: 2 });
      const ids = Array.from({ length: 4 }, () => deviceId());
      const routers = await Promise.all(
        ids.map(async (id) => holdingRouter(await connectDevice(broker, id), id)),
      );
      const window = clockedWindow(clock, broker, ids, routers);
      const limit = async () => (await broker.metrics.commandsLimit.get()).values[0]?.value;
      /** A window of nothing but a stranger's POSTs, answered 401 with no clock time passing. */
      const strangerWindow = async (count: number): Promise<number[]> => {
        const statuses = await Promise.all(
          Array.from({ length: count }, async () => {
            const response = await fetch(`${broker.httpUrl}/v1/devices/${ids[0]}/commands`, {
              method: "POST",
              headers: {
                authorization: bearer("not-the-broker-token-at-all"),
                "content-type": "application/json",
              },
              body: JSON.stringify({ name: "ping" }),
            });
            await response.arrayBuffer();
            return response.status;
          }),
        );
        clock.advance(100);
        return statuses;
      };

      const statuses: number[] = [];
      const strangers: number[] = [];
      // The baseline: 30 ms, 24 in flight.
      for (let w = 0; w < 3; w++) statuses.push(...(await window(24, 30)).map((answer) => answer.status));
      for (let round = 0; round < 3; round++) {
        strangers.push(...(await strangerWindow(100)));
        for (let w = 0; w < 3; w++) statuses.push(...(await window(24, 30)).map((answer) => answer.status));
      }
      expect(strangers).toHaveLength(300);
      expect(strangers.filter((status) => status !== 401)).toEqual([]);
      expect(statuses).toHaveLength(24 * 12);
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      expect(await shedTotal(broker, "latency")).toBe(0);
      expect(await limit()).toBe(max);
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
