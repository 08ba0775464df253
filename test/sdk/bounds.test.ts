import { describe, expect, it } from "vitest";
import {
  Backoff,
  BoundedQueue,
  backoffDelay,
  connectDevice,
  DEFAULT_BACKOFF,
  ResultCache,
} from "../../device-sdk/src/index.js";
import { seededRandom } from "./helpers/fake-clock.js";

const opts = { initialDelayMs: 1_000, maxDelayMs: 30_000, multiplier: 2 };

describe("backoffDelay", () => {
  it("is random() times the capped exponential ceiling", () => {
    expect(backoffDelay(0, opts, () => 0.5)).toBe(500);
    expect(backoffDelay(1, opts, () => 0.5)).toBe(1_000);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(4_000);
    expect(backoffDelay(5, opts, () => 0.5)).toBe(15_000); // 32000 capped to 30000
    expect(backoffDelay(1_000, opts, () => 0.999)).toBe(29_970);
  });

  it("uses full jitter: anywhere from 0 up to the ceiling", () => {
    expect(backoffDelay(4, opts, () => 0)).toBe(0);
    const random = seededRandom(7);
    const delays = Array.from({ length: 2_000 }, () => backoffDelay(4, opts, random));
    expect(Math.min(...delays)).toBeLessThan(200);
    expect(Math.max(...delays)).toBeGreaterThan(15_800);
    expect(Math.max(...delays)).toBeLessThan(16_000);
  });

  it("clamps a misbehaving random into [0, 1]", () => {
    expect(backoffDelay(0, opts, () => -3)).toBe(0);
    expect(backoffDelay(0, opts, () => 7)).toBe(1_000);
  });
});

describe("Backoff", () => {
  it("grows the ceiling per attempt and starts over after reset", () => {
    const backoff = new Backoff(DEFAULT_BACKOFF, () => 1);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([1_000, 2_000, 4_000]);
    expect(backoff.attempt).toBe(3);
    backoff.reset();
    expect(backoff.next()).toBe(1_000);
  });
});

describe("BoundedQueue", () => {
  it("drops the oldest entry when full and counts it", () => {
    const queue = new BoundedQueue<number>(3);
    for (let i = 0; i < 10; i++) queue.push(i);
    expect(queue.size).toBe(3);
    expect(queue.dropped).toBe(7);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([7, 8, 9, undefined]);
  });

  it("puts a failed entry back at the front, or drops it when there is no room", () => {
    const queue = new BoundedQueue<string>(2);
    queue.push("b");
    expect(queue.unshift("a")).toBe(true);
    expect(queue.unshift("z")).toBe(false);
    expect(queue.dropped).toBe(1);
    expect([queue.shift(), queue.shift()]).toEqual(["a", "b"]);
  });
});

describe("ResultCache", () => {
  it("keeps the most recently used results up to its capacity", () => {
    const cache = new ResultCache(2);
    cache.set("a", "A");
    cache.set("b", "B");
    cache.get("a");
    cache.set("c", "C");
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe("A");
    expect(cache.get("c")).toBe("C");
  });
});

describe("connectDevice options", () => {
  it("refuses a bad device id, a missing URL and a nonsense bound before connecting", () => {
    const base = { deviceId: "router-1", password: "p", url: "mqtt://127.0.0.1:1" };
    expect(() => connectDevice({ ...base, deviceId: "bad/id" })).toThrow(/deviceId/);
    expect(() => connectDevice({ ...base, url: undefined })).toThrow(/url/);
    expect(() => connectDevice({ ...base, url: "http://x" })).toThrow(/unsupported/);
    expect(() => connectDevice({ ...base, maxQueuedEvents: 0 })).toThrow(/maxQueuedEvents/);
  });
});
