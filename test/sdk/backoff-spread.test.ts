import { afterEach, describe, expect, it } from "vitest";
import { backoffDelay, connectDevice, type Device } from "../../device-sdk/src/index.js";
import { devicePassword } from "../../protocol/src/index.js";
import { FakeClock, seededRandom } from "./helpers/fake-clock.js";
import { DEVICE_SECRET, startTestBroker, type TestBroker } from "./helpers/tether-broker.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

const FLEET = 50;
/**
 * The window the fleet spreads over. 3 s rather than 1 s: the routers and the broker share
 * one process, and a stall of it (a loaded 2-core machine, a major GC) pushes every CONNACK
 * it holds into the same 100 ms bucket. Over 1 s the fleet is ~5 per bucket (the busiest ~9
 * of the 12 allowed), so a stall of ~150 ms failed it; over 3 s it is ~2 per bucket, while
 * lockstep still puts all 50 (or half of them, for a half-broken backoff) into one.
 */
const INITIAL_DELAY_MS = 3_000;

function stdev(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

/** The most entries falling into any one `widthMs` bucket. */
function busiestBucket(times: number[], widthMs: number): number {
  const buckets = new Map<number, number>();
  for (const t of times)
    buckets.set(Math.floor(t / widthMs), (buckets.get(Math.floor(t / widthMs)) ?? 0) + 1);
  return Math.max(...buckets.values());
}

describe("a fleet restarted together", () => {
  let broker: TestBroker | undefined;
  const fleet: Device[] = [];

  afterEach(async () => {
    await Promise.all(fleet.splice(0).map((device) => device.close()));
    await broker?.close();
  });

  it("comes back spread over the backoff window after a broker restart, not in lockstep", async () => {
    broker = await startTestBroker();
    const run = uniqueSuffix();
    const delays = new Map<string, number>();
    const backOnline = new Map<string, number>();
    for (let i = 0; i < FLEET; i++) {
      const deviceId = `fleet-${run}-${i}`;
      const device = connectDevice({
        deviceId,
        password: await devicePassword(DEVICE_SECRET, deviceId),
        url: broker.mqttUrl,
        backoff: { initialDelayMs: INITIAL_DELAY_MS, maxDelayMs: 8_000 },
        random: seededRandom(1_000 + i), // each router has its own randomness
      });
      device.on("reconnecting", ({ delayMs }) => {
        if (!delays.has(deviceId)) delays.set(deviceId, delayMs);
      });
      fleet.push(device);
    }
    await Promise.all(fleet.map((device) => device.whenOnline()));

    await broker.stop();
    const restartedAt = Date.now();
    await broker.start();
    for (const device of fleet)
      device.once("online", () => backOnline.set(device.id, Date.now() - restartedAt));
    await waitFor(() => backOnline.size === FLEET, "the whole fleet back online", 15_000);

    const firstDelays = [...delays.values()];
    expect(firstDelays).toHaveLength(FLEET);
    expect(new Set(firstDelays).size).toBeGreaterThan(FLEET * 0.9); // not one shared delay
    expect(Math.max(...firstDelays)).toBeLessThan(INITIAL_DELAY_MS);
    expect(stdev(firstDelays)).toBeGreaterThan(INITIAL_DELAY_MS / 5); // uniform on [0, 3000) gives ~866

    const times = [...backOnline.values()];
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(INITIAL_DELAY_MS / 2);
    // Evenly spread, 50 devices over ~3 s is ~2 per 100 ms; lockstep would put all 50 in one bucket.
    expect(busiestBucket(times, 100)).toBeLessThan(FLEET / 4);
  });

  it("draws each router's delay independently on an injected clock, while a fixed period would not", () => {
    const clock = new FakeClock();
    const jittered = Array.from({ length: FLEET }, (_, i) =>
      backoffDelay(
        0,
        { initialDelayMs: INITIAL_DELAY_MS, maxDelayMs: 30_000, multiplier: 2 },
        seededRandom(i),
      ),
    );
    const lockstep = Array.from({ length: FLEET }, () =>
      backoffDelay(0, { initialDelayMs: INITIAL_DELAY_MS, maxDelayMs: 30_000, multiplier: 2 }, () => 1),
    );
    const reconnects: number[] = [];
    for (const delay of jittered) clock.setTimeout(() => reconnects.push(clock.now()), delay);
    clock.advance(INITIAL_DELAY_MS);
    expect(reconnects).toHaveLength(FLEET);
    expect(busiestBucket(reconnects, 100)).toBeLessThan(FLEET / 4);
    expect(new Set(lockstep).size).toBe(1);
  });
});
