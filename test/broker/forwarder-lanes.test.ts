/**
 * Issue 12, "nothing lost": what the forwarder keeps while the edge is down (latest
 * presence and state per device, command results: never dropped; device events: a
 * byte budget shared fairly), how it builds batches by bytes, and what it does with
 * the edge's refusals.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EVENT_BATCH_LIMITS, MAX_EVENT_BYTES, type TetherEvent } from "../../protocol/src/index.js";
import {
  cleanUp,
  counter,
  presence,
  SIZED_EVENT_BYTES,
  SIZED_TS,
  setUp,
  sizedEvent,
  state,
  waitFor,
} from "./forwarder-helpers.js";

afterEach(cleanUp);

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/**
 * A forwarder whose edge is down and which is backing off (60 s) after its first failed
 * attempt, so nothing is in flight while a test fills it; `flush()` then sends at once.
 */
async function downEdge(options: Parameters<typeof setUp>[0]) {
  const setup = await setUp({
    random: () => 0.999,
    baseRetryDelayMs: 60_000,
    degradedAfterMs: 0,
    ...options,
  });
  setup.receiver.respond = () => "reset";
  setup.forwarder.push(presence("canary", 0, true));
  await setup.forwarder.flush(100);
  await waitFor(() => setup.forwarder.edgeProblem() !== null);
  return setup;
}

function result(deviceId: string, id: string): TetherEvent {
  return { type: "command_result", deviceId, ts: 1, id, ok: true, result: { done: id } };
}

describe("EventForwarder lanes", () => {
  it("keeps every device's latest presence and state through an outage that floods it, and sends them first", async () => {
    const { receiver, forwarder, metrics } = await downEdge({
      maxBytes: 400 * SIZED_EVENT_BYTES,
      maxBatchEvents: 100,
    });
    const devices = ids("router", 20);
    for (const id of devices) {
      forwarder.push(presence(id, 1, true));
      forwarder.push(state(id, 1, { firmware: "1.0" }));
    }
    for (let n = 0; n < 5_000; n++) forwarder.push(sizedEvent(n, "chatty"));
    // After the backlog: half of the routers go offline, the other half report a new state.
    for (const [i, id] of devices.entries()) {
      if (i % 2 === 0) forwarder.push(presence(id, 2, false));
      else forwarder.push(state(id, 2, { firmware: "2.0" }));
    }
    forwarder.push(result("router-0", "queued-1"));

    // The flood cost only device events; the byte budget holds.
    expect(forwarder.bytes.total).toBeLessThanOrEqual(400 * SIZED_EVENT_BYTES);
    expect(forwarder.dropped).toBeGreaterThan(4_500);
    expect(await counter(metrics, "tether_forwarder_dropped_total")).toBe(forwarder.dropped);

    receiver.respond = () => 200;
    await forwarder.flush(3_000);
    const first = receiver.requests.find((request) => request.events.length > 0)?.events ?? [];
    // The first request after the outage carries every device's current truth and the result.
    for (const [i, id] of devices.entries()) {
      expect(first.filter((e) => e.type === "presence" && e.deviceId === id).at(-1)).toMatchObject({
        online: i % 2 !== 0,
      });
      expect(first.filter((e) => e.type === "state" && e.deviceId === id).at(-1)).toMatchObject({
        state: { firmware: i % 2 === 0 ? "1.0" : "2.0" },
      });
    }
    expect(first).toContainEqual(result("router-0", "queued-1"));
    expect(forwarder.depth).toBe(0);
  });

  it("lets a chatty device drop only its own events, never the others'", async () => {
    const { receiver, forwarder } = await downEdge({ maxBytes: 40 * SIZED_EVENT_BYTES });
    for (let n = 0; n < 5; n++) {
      forwarder.push(sizedEvent(n, "quiet-a"));
      forwarder.push(sizedEvent(n, "quiet-b"));
    }
    for (let n = 0; n < 2_000; n++) forwarder.push(sizedEvent(100 + n, "chatty"));
    expect(forwarder.dropped).toBeGreaterThan(1_900);

    receiver.respond = () => 200;
    await forwarder.flush(3_000);
    const from = (deviceId: string) =>
      receiver.accepted.filter((e) => e.deviceId === deviceId).map((e) => e.ts - SIZED_TS);
    expect(from("quiet-a")).toEqual([0, 1, 2, 3, 4]);
    expect(from("quiet-b")).toEqual([0, 1, 2, 3, 4]);
    // The chatty device kept its newest events, in order.
    const chatty = from("chatty");
    expect(chatty.at(-1)).toBe(2_099);
    expect(chatty).toEqual([...chatty].sort((a, b) => a - b));
  });

  it("shows every change in order while the edge keeps up, and only the newest once it has fallen behind", async () => {
    const { receiver, forwarder } = await setUp({ maxBytes: 4 * SIZED_EVENT_BYTES });
    forwarder.push(presence("flappy", 1, true));
    forwarder.push(presence("flappy", 2, false));
    forwarder.push(presence("flappy", 3, true));
    await forwarder.flush(2_000);
    expect(receiver.accepted.map((e) => e.ts)).toEqual([1, 2, 3]);

    receiver.respond = () => "reset";
    for (let ts = 10; ts < 20; ts++) forwarder.push(state("flappy", ts, { step: ts }));
    for (let n = 0; n < 20; n++) forwarder.push(sizedEvent(n, "other"));
    receiver.respond = () => 200;
    await forwarder.flush(2_000);
    const states = receiver.accepted.filter((e) => e.type === "state").map((e) => e.ts);
    // However many were given up, the newest state came, and nothing older after it.
    expect(states.at(-1)).toBe(19);
    expect(states).toEqual([...states].sort((a, b) => a - b));
  });

  it("builds batches by bytes under the edge's body limit: 20 states of 60 KiB all arrive", async () => {
    const { receiver, forwarder } = await setUp();
    // The edge's own rule: a body above the limit is refused whole.
    receiver.respond = (_request, body) =>
      Buffer.byteLength(body) > EVENT_BATCH_LIMITS.maxBodyBytes ? 413 : 200;
    const big = "x".repeat(60 * 1024);
    for (const id of ids("big", 20)) forwarder.push(state(id, 1, { blob: big }));
    await forwarder.flush(3_000);

    expect(receiver.accepted.filter((e) => e.type === "state")).toHaveLength(20);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(2);
    for (const request of receiver.requests) {
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(EVENT_BATCH_LIMITS.maxBodyBytes);
    }
    expect(forwarder.dropped).toBe(0);
  });

  it("refuses, at push, an event too large for any batch or one that does not serialize", async () => {
    const { receiver, forwarder, metrics } = await setUp();
    forwarder.push({ type: "event", deviceId: "r1", ts: 1, name: "huge", data: "x".repeat(MAX_EVENT_BYTES) });
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    forwarder.push({ type: "event", deviceId: "r1", ts: 2, name: "deep", data: deep });
    forwarder.push({ type: "event", deviceId: "r1", ts: 3, name: "fine", data: 1 });
    await forwarder.flush(2_000);

    expect(receiver.accepted.map((e) => e.ts)).toEqual([3]);
    const dropped = await metrics.registry.getSingleMetric("tether_forwarder_dropped_total")?.get();
    const byReason = Object.fromEntries((dropped?.values ?? []).map((v) => [v.labels.reason, v.value]));
    expect(byReason).toEqual({ event_too_large: 1, unserializable: 1 });
  });

  it("never re-sends a batch the edge answers 409 replayed: it already has it", async () => {
    const { receiver, forwarder } = await setUp();
    receiver.respond = () => 409;
    forwarder.push(presence("r1", 1, true));
    await forwarder.flush(2_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.requests).toHaveLength(1);
    expect(forwarder.depth).toBe(0);
    expect(forwarder.dropped).toBe(0);
  });

  it("keeps events and reports the edge unhealthy while it refuses us (401) past the grace, healthy after one delivery", async () => {
    let now = 1_750_000_000_000;
    const { receiver, forwarder } = await setUp({
      now: () => now,
      degradedAfterMs: 5_000,
      baseRetryDelayMs: 5,
      maxRetryDelayMs: 20,
    });
    receiver.respond = () => 401;
    forwarder.push(presence("r1", 1, true));
    await waitFor(() => receiver.requests.length >= 2);
    expect(forwarder.edgeProblem()).toBeNull();
    now += 5_000;
    expect(forwarder.edgeProblem()).toEqual({ since: expect.any(Number), reason: "HTTP 401" });
    expect(forwarder.depth).toBe(1);

    receiver.respond = () => 200;
    await waitFor(() => receiver.accepted.length === 1);
    await waitFor(() => forwarder.edgeProblem() === null);
    expect(forwarder.dropped).toBe(0);
  });
});
