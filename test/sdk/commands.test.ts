import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectDevice, type Device } from "../../device-sdk/src/index.js";
import { type PlainBroker, startPlainBroker } from "./helpers/aedes-broker.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { type Operator, startOperator } from "./helpers/operator.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

// Command handling over real MQTT against a plain Aedes (no Tether policy), with the
// test publishing commands itself — so redeliveries and malformed payloads can be forced.
describe("device commands", () => {
  let broker: PlainBroker;
  let operator: Operator;
  let device: Device;
  let deviceId: string;
  const far = () => Date.now() + 60_000;

  beforeEach(async () => {
    broker = await startPlainBroker();
    deviceId = `dev-${uniqueSuffix()}`;
    operator = await startOperator(broker.url, deviceId);
  });

  afterEach(async () => {
    await device?.close();
    await operator.close();
    await broker.close();
  });

  async function online(options: Partial<Parameters<typeof connectDevice>[0]> = {}): Promise<Device> {
    device = connectDevice({ deviceId, password: "unused", url: broker.url, ...options });
    await device.whenOnline();
    return device;
  }

  it("runs a registered handler and publishes its result", async () => {
    await online();
    device.command("add", (params) => {
      const { a, b } = params as { a: number; b: number };
      return { sum: a + b };
    });
    await operator.sendCommand({ id: "c1", name: "add", params: { a: 2, b: 3 }, expiresAt: far() });
    await waitFor(() => operator.results.length === 1, "result");
    expect(operator.results[0]).toEqual({ id: "c1", ok: true, result: { sum: 5 } });
  });

  it("keeps answering a flood of commands at its bound (rate_limited beyond it) and recovers", async () => {
    await online({ maxConcurrentCommands: 4 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let running = 0;
    let mostAtOnce = 0;
    device.command("work", async () => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      await gate;
      running--;
      return "done";
    });
    const flood = Array.from({ length: 50 }, (_, i) => `flood-${i}`);
    for (const id of flood) void operator.sendCommand({ id, name: "work", params: null, expiresAt: far() });
    // Every command beyond the 4 running is answered at once, not queued.
    await waitFor(() => operator.results.length === 46, "46 rate_limited answers");
    expect(operator.results.every((r) => !r.ok && r.error?.code === "rate_limited")).toBe(true);
    expect(device.stats().running).toBe(4);

    release();
    await waitFor(() => operator.results.length === 50, "the 4 admitted results");
    const answered = new Map(operator.results.map((r) => [r.id, r]));
    expect([...answered.keys()].sort()).toEqual([...flood].sort());
    expect(operator.results.filter((r) => r.ok)).toHaveLength(4);
    expect(mostAtOnce).toBe(4);

    // After the burst: nothing left running, and the next commands run as before.
    expect(device.stats().running).toBe(0);
    for (const id of ["after-1", "after-2", "after-3", "after-4"])
      await operator.sendCommand({ id, name: "work", params: null, expiresAt: far() });
    await waitFor(() => operator.results.length === 54, "the commands after the burst");
    expect(operator.results.slice(50).every((r) => r.ok)).toBe(true);
  });

  it("answers a redelivered command id from its cache and never runs the handler twice", async () => {
    await online();
    let runs = 0;
    device.command("count", () => ++runs);
    const command = { id: "dup-1", name: "count", params: null, expiresAt: far() };
    await operator.sendCommand(command);
    await waitFor(() => operator.results.length === 1, "first result");
    await operator.sendCommand(command);
    await waitFor(() => operator.results.length === 2, "second result");
    expect(runs).toBe(1);
    expect(operator.results).toEqual([
      { id: "dup-1", ok: true, result: 1 },
      { id: "dup-1", ok: true, result: 1 },
    ]);
    expect(device.stats().duplicateCommands).toBe(1);
  });

  it("does not start a command id that is still running", async () => {
    await online();
    let runs = 0;
    let release: (value: string) => void = () => {};
    device.command("slow", () => {
      runs++;
      return new Promise<string>((resolve) => {
        release = resolve;
      });
    });
    const command = { id: "run-1", name: "slow", params: null, expiresAt: far() };
    await operator.sendCommand(command);
    await waitFor(() => runs === 1, "handler start");
    await operator.sendCommand(command);
    await waitFor(() => device.stats().duplicateCommands === 1, "duplicate seen");
    release("done");
    await waitFor(() => operator.results.length === 1, "result");
    expect(runs).toBe(1);
    expect(operator.results[0]).toEqual({ id: "run-1", ok: true, result: "done" });
  });

  it("answers unknown_command, handler_error and invalid_command with the command id", async () => {
    await online();
    device.command("boom", () => {
      throw new Error("disk full");
    });
    await operator.sendCommand({ id: "u1", name: "nope", params: null, expiresAt: far() });
    await operator.sendCommand({ id: "e1", name: "boom", params: null, expiresAt: far() });
    await operator.sendCommand({ id: "i1", name: "boom" }); // no expiresAt
    await waitFor(() => operator.results.length === 3, "three results");
    const byId = Object.fromEntries(operator.results.map((r) => [r.id, r]));
    expect(byId.u1).toMatchObject({ ok: false, error: { code: "unknown_command" } });
    expect(byId.e1).toEqual({ id: "e1", ok: false, error: { code: "handler_error", message: "disk full" } });
    expect(byId.i1).toMatchObject({ ok: false, error: { code: "invalid_command" } });
  });

  it("drops a malformed command without an id and reports it via error", async () => {
    await online();
    const errors: Error[] = [];
    device.on("error", (error) => errors.push(error));
    await operator.sendCommand("{not json");
    await operator.sendCommand({ name: "ping" });
    await waitFor(() => errors.length === 2, "two errors");
    expect(errors.map((e) => (e as Error & { code?: string }).code)).toEqual([
      "invalid_command",
      "invalid_command",
    ]);
    expect(operator.results).toEqual([]);
  });

  it("skips a command past expiresAt and answers command_expired", async () => {
    const clock = new FakeClock(Date.now());
    await online({ clock });
    let runs = 0;
    device.command("ping", () => {
      runs++;
      return { pong: true };
    });
    clock.advance(10_000);
    await operator.sendCommand({ id: "x1", name: "ping", params: null, expiresAt: Date.now() + 5_000 });
    await waitFor(() => operator.results.length === 1, "result");
    expect(runs).toBe(0);
    expect(operator.results[0]).toMatchObject({ id: "x1", ok: false, error: { code: "command_expired" } });
  });

  it("answers handler_timeout when a handler overruns, and aborts its signal", async () => {
    const clock = new FakeClock(Date.now());
    await online({ clock, commandTimeoutMs: 1_000 });
    let aborted: unknown;
    device.command("hang", (_params, { signal }) => {
      signal.addEventListener("abort", () => {
        aborted = signal.reason;
      });
      return new Promise(() => {});
    });
    await operator.sendCommand({ id: "t1", name: "hang", params: null, expiresAt: clock.now() + 60_000 });
    await waitFor(() => device.stats().running === 1, "handler running");
    clock.advance(1_000);
    await waitFor(() => operator.results.length === 1, "timeout result");
    expect(operator.results[0]).toMatchObject({ id: "t1", ok: false, error: { code: "handler_timeout" } });
    expect(aborted).toMatchObject({ code: "handler_timeout" });
    expect(device.stats().running).toBe(0);
  });

  it("aborts running handlers on close and publishes nothing after", async () => {
    await online();
    let signal: AbortSignal | undefined;
    device.command("hang", (_params, context) => {
      signal = context.signal;
      return new Promise(() => {});
    });
    await operator.sendCommand({ id: "h1", name: "hang", params: null, expiresAt: far() });
    await waitFor(() => signal !== undefined, "handler start");
    await device.close();
    expect(signal?.aborted).toBe(true);
    expect(device.status).toBe("closed");
    expect(() => device.emit("late", 1)).toThrow(/closed/);
  });
});
