import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { BATCH_ID_PATTERN, verifyBodySignature } from "../../protocol/src/index.js";
import {
  cleanUp,
  counter,
  event,
  NOW_MS,
  SECRET,
  SIZED_EVENT_BYTES,
  SIZED_TS,
  setUp,
  sizedEvent,
  waitFor,
} from "./forwarder-helpers.js";

afterEach(cleanUp);

describe("EventForwarder", () => {
  it("sends many pushes as a few batched requests, in order, without loss", async () => {
    const { receiver, forwarder } = await setUp({ maxBatchEvents: 10 });
    for (let n = 0; n < 35; n++) forwarder.push(event(n));
    await forwarder.flush(2_000);

    expect(receiver.requests.map((request) => request.events.length)).toEqual([10, 10, 10, 5]);
    expect(receiver.accepted.map((e) => e.ts)).toEqual(Array.from({ length: 35 }, (_, n) => n));
    expect(forwarder.sent).toBe(35);
    expect(forwarder.depth).toBe(0);
  });

  it("waits up to flushIntervalMs for a partial batch, then sends it", async () => {
    const { receiver, forwarder } = await setUp({ maxBatchEvents: 100, flushIntervalMs: 30 });
    forwarder.push(event(1));
    forwarder.push(event(2));
    expect(receiver.requests).toHaveLength(0);
    await waitFor(() => receiver.requests.length === 1);
    expect(receiver.requests[0]?.events).toHaveLength(2);
  });

  it("signs each batch so that the edge's check accepts it, and a wrong secret does not", async () => {
    const { receiver, forwarder } = await setUp();
    forwarder.push(event(1));
    await forwarder.flush(2_000);

    const request = receiver.requests[0];
    expect(request?.contentType).toBe("application/json");
    expect(request?.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const body = request?.body ?? "";
    expect(await verifyBodySignature(SECRET, request?.signature, body, NOW_MS / 1000)).toEqual({ ok: true });
    expect(await verifyBodySignature("another-secret", request?.signature, body, NOW_MS / 1000)).toEqual({
      ok: false,
      reason: "mismatch",
    });
    expect(JSON.parse(body)).toEqual({
      batchId: expect.stringMatching(BATCH_ID_PATTERN),
      events: [event(1)],
    });
  });

  it("retries with growing backoff after 503s and loses nothing when the edge recovers", async () => {
    // random ≈ 1 makes full jitter deterministic: delays ≈ 40, 80, 160 ms.
    const { receiver, forwarder, metrics } = await setUp({
      baseRetryDelayMs: 40,
      random: () => 0.999,
      maxBatchEvents: 5,
    });
    receiver.respond = (request) => (request <= 3 ? 503 : 200);
    for (let n = 0; n < 12; n++) forwarder.push(event(n));
    await forwarder.flush(3_000);

    expect(receiver.accepted.map((e) => e.ts)).toEqual(Array.from({ length: 12 }, (_, n) => n));
    const at = receiver.requests.map((request) => request.at);
    const gaps = [1, 2, 3].map((i) => (at[i] ?? 0) - (at[i - 1] ?? 0));
    // The three backoffs between attempts: about 40, 80 and 160 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    expect(gaps[2]).toBeGreaterThanOrEqual(155);
    expect(forwarder.dropped).toBe(0);
    expect(await counter(metrics, "tether_forwarder_failures_total")).toBe(3);
    expect(await counter(metrics, "tether_forwarder_sent_total")).toBe(12);
  });

  it("never waits longer than maxRetryDelayMs between attempts", async () => {
    const { receiver, forwarder } = await setUp({
      baseRetryDelayMs: 10_000,
      maxRetryDelayMs: 30,
      random: () => 0.999,
    });
    receiver.respond = (request) => (request <= 2 ? "reset" : 200);
    forwarder.push(event(1));
    await waitFor(() => receiver.accepted.length === 1, 1_000);
    const [first, , third] = receiver.requests.map((request) => request.at);
    expect((third ?? 0) - (first ?? 0)).toBeLessThan(500);
  });

  it("splits a batch the edge refuses with 400 until the bad event is alone: only it is dropped", async () => {
    const { receiver, forwarder, metrics } = await setUp({ maxBatchEvents: 8 });
    // The edge refuses any batch holding the poison (n = 5), whole.
    receiver.respond = (_request, body) => (body.includes('"n":5}') ? 400 : 200);
    for (let n = 0; n < 8; n++) forwarder.push(event(n));
    await forwarder.flush(2_000);

    expect(receiver.accepted.map((e) => e.ts).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 6, 7]);
    // [0–7] refused → [0–3] ok, [4–7] refused → [4,5] refused → [4] ok, [5] dropped → [6,7] ok.
    expect(receiver.requests.map((r) => r.events.length)).toEqual([0, 4, 0, 0, 1, 0, 2]);
    expect(forwarder.dropped).toBe(1);
    expect(await counter(metrics, "tether_forwarder_dropped_total")).toBe(1);
    expect(forwarder.depth).toBe(0);

    forwarder.push(event(8));
    await forwarder.flush(2_000);
    expect(receiver.accepted.map((e) => e.ts)).toContain(8);
  });

  it("keeps a byte-bounded buffer while the edge is down, drops the oldest events, and logs drops sparingly", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "warn" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const { receiver, forwarder, metrics } = await setUp({
      maxBatchEvents: 10,
      maxBytes: 50 * SIZED_EVENT_BYTES,
      logger,
    });
    receiver.respond = () => "reset";
    let deepest = 0;
    for (let n = 0; n < 200; n++) {
      forwarder.push(sizedEvent(n));
      deepest = Math.max(deepest, forwarder.depth);
      if (n % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(deepest).toBe(50);
    expect(forwarder.bytes.events).toBe(50 * SIZED_EVENT_BYTES);
    expect(forwarder.dropped).toBe(150);
    expect(await counter(metrics, "tether_forwarder_dropped_total")).toBe(150);
    expect(await counter(metrics, "tether_forwarder_queue_depth")).toBe(50);
    expect(lines.filter((line) => line.includes("forwarder dropped events")).length).toBe(1);

    receiver.respond = () => 200;
    await forwarder.flush(2_000);
    // Only the newest 50 survive, in order; a request in flight while its events
    // were evicted may deliver a few more, which is still no duplicate and no reordering.
    const delivered = receiver.accepted.map((e) => e.ts - SIZED_TS);
    expect(delivered.slice(-50)).toEqual(Array.from({ length: 50 }, (_, n) => 150 + n));
    expect(new Set(delivered).size).toBe(delivered.length);
    expect(forwarder.depth).toBe(0);
  });

  it("aborts a request that hangs past requestTimeoutMs and delivers on the retry", async () => {
    // 300 ms: short enough to keep the test quick, long enough that the retry's answer
    // is not itself cut off on a loaded 2-core CI machine (50 ms was, now and then).
    const { receiver, forwarder } = await setUp({ requestTimeoutMs: 300 });
    receiver.respond = (request) => (request === 1 ? "hang" : 200);
    forwarder.push(event(7));
    // `sent` counts when the edge's answer is back, a moment after the receiver saw the body.
    await waitFor(() => forwarder.sent === 1);
    expect(receiver.accepted).toHaveLength(1);
    expect(receiver.requests).toHaveLength(2);
    expect(forwarder.sent).toBe(1);
  });

  it("flush sends a partial batch at once instead of waiting for flushIntervalMs", async () => {
    const { receiver, forwarder } = await setUp({ flushIntervalMs: 60_000 });
    forwarder.push(event(1));
    const started = performance.now();
    await forwarder.flush(2_000);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(receiver.accepted).toHaveLength(1);
  });

  it("close() gives up after its timeout when the edge is down and leaves no timer or request behind", async () => {
    const { receiver, forwarder, timers } = await setUp({
      baseRetryDelayMs: 20,
      flushIntervalMs: 1_000,
      random: () => 0.5,
    });
    receiver.respond = () => 503;
    for (let n = 0; n < 5; n++) forwarder.push(event(n));
    expect(timers.live).toBe(1); // the partial-batch wait

    const started = performance.now();
    await forwarder.close(150);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(timers.live).toBe(0);
    expect(forwarder.depth).toBe(0);
    expect(forwarder.dropped).toBe(5);

    // A request aborted by close() may still reach the receiver a moment later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const requests = receiver.requests.length;
    forwarder.push(event(99));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(timers.live).toBe(0);
    expect(receiver.requests).toHaveLength(requests);
    expect(forwarder.dropped).toBe(6);
  });

  it("close() aborts a request that hangs instead of waiting for requestTimeoutMs", async () => {
    const { receiver, forwarder, timers } = await setUp({ requestTimeoutMs: 30_000 });
    receiver.respond = () => "hang";
    forwarder.push(event(1));
    await waitFor(() => receiver.requests.length === 1);

    const started = performance.now();
    await forwarder.close(100);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(timers.live).toBe(0);
    expect(forwarder.dropped).toBe(1);
  });

  it("close() on an idle forwarder returns at once with nothing pending", async () => {
    const { forwarder, timers } = await setUp();
    forwarder.push(event(1));
    await forwarder.flush(2_000);
    expect(timers.live).toBe(0);
    await forwarder.close();
    expect(timers.live).toBe(0);
    expect(forwarder.sent).toBe(1);
  });
});
