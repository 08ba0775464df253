/**
 * The adaptive in-flight limit (COMMAND_LATENCY_TOLERANCE, issue 17) in a real broker over
 * real sockets, on the broker's injected clock: the test sets how long each command takes,
 * so what the limit measures does not depend on how busy the machine is.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/index.js";
import { bearer } from "../../protocol/src/index.js";
import { cleanupAll, connectDevice, deviceId, startTestBroker, waitFor } from "./helpers.js";
import { clockedWindow, holdingRouter, shedTotal } from "./overload-helpers.js";

afterEach(cleanupAll);

/** Generous: they wait on events, but the suite shares two cores. */
const SLOW_MACHINE_MS = 20_000;

/**
 * A broker on an injected clock with the adaptive limit on (tolerance 2, ceiling `max`), four
 * holding routers, and its 100 ms windows (`clockedWindow`): the adaptive limit reads only
 * that clock, so the test moves it and never sleeps.
 */
async function clockedBroker(max: number) {
  const clock = new ManualClock(Date.now());
  const broker = await startTestBroker({ clock, maxCommandsInFlight: max, commandLatencyTolerance: 2 });
  const ids = Array.from({ length: 4 }, () => deviceId());
  const routers = await Promise.all(
    ids.map(async (id) => holdingRouter(await connectDevice(broker, id), id)),
  );
  const window = clockedWindow(clock, broker, ids, routers);
  const limit = async () => (await broker.metrics.commandsLimit.get()).values[0]?.value;
  return { clock, broker, ids, window, limit };
}

describe("the adaptive in-flight limit", () => {
  it(
    "lowers the in-flight limit when admitted commands slow down past COMMAND_LATENCY_TOLERANCE × their baseline: the excess is shed at once (503, reason latency), the admitted succeed, and the limit grows back",
    async () => {
      const max = 32;
      const { broker, window, limit } = await clockedBroker(max);

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
      const max = 64;
      const { clock, broker, ids, window, limit } = await clockedBroker(max);
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
});
