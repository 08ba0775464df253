import { describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/clock.js";
import { PendingCommands } from "../../broker/src/commands/pending.js";
import { StandingQueues } from "../../broker/src/commands/standing-queue.js";

const TARGET_MS = 5;
const INTERVAL_MS = 100;

function queues(clock: ManualClock, maxDevices = 100) {
  return new StandingQueues({ targetMs: TARGET_MS, intervalMs: INTERVAL_MS, maxDevices, clock });
}

/** Answers one command of `device` that waited `waitedMs`, `afterMs` after the previous answer. */
function answer(q: StandingQueues, clock: ManualClock, device: string, waitedMs: number, afterMs = 10) {
  clock.advance(afterMs);
  return q.answered(device, waitedMs);
}

describe("StandingQueues (per-device CoDel of commands, issue 17)", () => {
  it("measures queueing as the wait beyond the device's quickest answer", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    expect(answer(q, clock, "a", 300)).toBe(0);
    expect(answer(q, clock, "a", 320)).toBe(20);
    expect(answer(q, clock, "a", 250)).toBe(0);
    expect(answer(q, clock, "a", 260)).toBe(10);
  });

  it("counts a command sent while its device had none pending as not queued at all", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    answer(q, clock, "a", 1);
    expect(q.answered("a", 400, true)).toBe(0);
    expect(q.answered("a", 400)).toBe(399);
  });

  it("never calls a router that is always slow a queue, however many commands run at once", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    for (let i = 0; i < 500; i++) answer(q, clock, "slow", 300 + (i % 3), 5);
    expect(q.standing("slow")).toBe(false);
  });

  it("lets a burst pass that drains within the interval", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    answer(q, clock, "a", 2);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 8; i++) answer(q, clock, "a", 2 + 40 + i, 10);
      // The burst's tail: its queue emptied, so one answer comes back within the target.
      answer(q, clock, "a", 3, 10);
    }
    expect(q.standing("a")).toBe(false);
  });

  it("finds a standing queue once every answer queued beyond the target for an interval, and clears it at the first answer within it", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    answer(q, clock, "a", 1);
    answer(q, clock, "a", 30);
    answer(q, clock, "a", 40, INTERVAL_MS - 1);
    expect(q.standing("a")).toBe(false);
    answer(q, clock, "a", 40, 1);
    expect(q.standing("a")).toBe(true);
    expect(q.standing("b")).toBe(false);
    answer(q, clock, "a", 1 + TARGET_MS);
    expect(q.standing("a")).toBe(false);
  });

  it("counts a command that timed out as queued beyond the target", () => {
    const clock = new ManualClock();
    const q = queues(clock);
    answer(q, clock, "a", 1);
    q.timedOut("a");
    clock.advance(INTERVAL_MS);
    q.timedOut("a");
    expect(q.standing("a")).toBe(true);
  });

  it("only measures with a target of 0: a queue never stands", () => {
    const clock = new ManualClock();
    const q = new StandingQueues({ targetMs: 0, intervalMs: INTERVAL_MS, maxDevices: 10, clock });
    answer(q, clock, "a", 1);
    for (let i = 1; i < 50; i++) expect(answer(q, clock, "a", 1 + i * 100)).toBe(i * 100);
    expect(q.standing("a")).toBe(false);
  });

  it("tracks at most maxDevices devices", () => {
    const clock = new ManualClock();
    const q = queues(clock, 50);
    for (let i = 0; i < 500; i++) answer(q, clock, `d${i}`, 1, 1);
    expect(q.size).toBe(50);
  });
});

describe("PendingCommands with a standing-queue rule", () => {
  it("refuses a device's next command while its queue stands and one is pending, not once it is empty", () => {
    const clock = new ManualClock();
    const standing = queues(clock);
    const queued: number[] = [];
    const pending = new PendingCommands(clock, {
      maxGlobal: 100,
      maxPerDevice: 16,
      onChange: () => {},
      queues: standing,
      onQueued: (ms) => queued.push(ms),
    });
    const settled: Array<Promise<unknown>> = [];
    const send = (id: string) => settled.push(pending.wait("a", id, 60_000));
    const result = (id: string) => pending.resolve("a", { id, ok: true, result: null });

    send("c0");
    result("c0");
    // c1 finds the device idle (it queues behind nothing); c2–c5 queue behind it.
    for (const id of ["c1", "c2", "c3", "c4", "c5"]) send(id);
    clock.advance(50);
    result("c1");
    clock.advance(50);
    result("c2");
    clock.advance(INTERVAL_MS);
    result("c3");
    expect(queued).toEqual([0, 0, 100, 200]);
    expect(pending.refusal("a")).toBe("standing_queue");
    expect(pending.refusal("b")).toBeNull();
    result("c4");
    result("c5");
    // Nothing pending: the next command is admitted, and its answer within the target clears it.
    expect(pending.refusal("a")).toBeNull();
    send("c6");
    result("c6");
    send("c7");
    expect(pending.refusal("a")).toBeNull();
    result("c7");
    return Promise.all(settled);
  });
});
