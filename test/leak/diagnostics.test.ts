import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import pino from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/clock.js";
import {
  debugMemoryRoute,
  installHeapSnapshotOnSignal,
  type LiveCounts,
  memoryGauges,
  startMemoryLog,
} from "../../broker/src/diagnostics/index.js";

/** A pino logger whose lines land in an array, parsed. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const counts: LiveCounts = {
  clients: 3,
  persistentSessions: 2,
  pendingCommands: 1,
  forwarderQueue: 0,
  timers: 4,
};
const memory = {
  rss: 100,
  heapTotal: 90,
  heapUsed: 80,
  external: 7,
  arrayBuffers: 5,
  code: 3,
  heapPhysical: 85,
};

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("the memory log line", () => {
  it("logs memory and live counts every interval, and nothing after stop()", async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturingLogger();
    const stop = startMemoryLog({
      intervalMs: 1_000,
      logger,
      counts: async () => counts,
      memoryUsage: () => memory,
      timers: clock,
    });

    clock.advance(999);
    await Promise.resolve();
    expect(lines).toHaveLength(0);
    clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "memory",
      ...memory,
      clients: 3,
      persistentSessions: 2,
      pendingCommands: 1,
      forwarderQueue: 0,
    });

    stop();
    clock.advance(5_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
  });

  it("never overlaps reads when counts are slow, and logs a warning when they fail", async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturingLogger();
    let calls = 0;
    let release: () => void = () => {};
    const stop = startMemoryLog({
      intervalMs: 100,
      logger,
      memoryUsage: () => memory,
      timers: clock,
      counts: () => {
        calls++;
        if (calls === 1) return new Promise<LiveCounts>((resolve) => (release = () => resolve(counts)));
        throw new Error("redis down");
      },
    });
    clock.advance(500); // five ticks while the first read is still pending
    expect(calls).toBe(1);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    stop();
    expect(lines.map((line) => line.msg)).toEqual(["memory", "memory log: could not read counts"]);
  });

  it("refuses an interval that is not positive", () => {
    const { logger } = capturingLogger();
    expect(() => startMemoryLog({ intervalMs: 0, logger, counts: () => counts })).toThrow(RangeError);
  });
});

describe("heap snapshots on a signal", () => {
  it("writes a snapshot on SIGUSR2, logs its path, and keeps only the newest `keep`", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tether-heap-"));
    temps.push(dir);
    // Two older snapshots of ours and one file that is not ours.
    writeFileSync(join(dir, "tether-2020-01-01T00-00-00-000Z-1-000001.heapsnapshot"), "{}");
    writeFileSync(join(dir, "tether-2020-01-02T00-00-00-000Z-1-000002.heapsnapshot"), "{}");
    writeFileSync(join(dir, "notes.txt"), "keep me");
    const { logger, lines } = capturingLogger();
    const uninstall = installHeapSnapshotOnSignal({ dir, keep: 2, logger });
    try {
      process.kill(process.pid, "SIGUSR2");
      const deadline = Date.now() + 30_000;
      while (!lines.some((line) => line.msg === "heap snapshot written") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      uninstall();
    }
    const written = lines.find((line) => line.msg === "heap snapshot written");
    expect(written?.path).toMatch(/tether-.*\.heapsnapshot$/);
    expect(written?.pruned).toBe(1);
    expect(readdirSync(dir).sort()).toEqual([
      "notes.txt",
      "tether-2020-01-02T00-00-00-000Z-1-000002.heapsnapshot",
      String(written?.path).slice(dir.length + 1),
    ]);
    expect(process.listenerCount("SIGUSR2")).toBe(0);
  }, 60_000);

  it("refuses to keep fewer than one snapshot", () => {
    const { logger } = capturingLogger();
    expect(() => installHeapSnapshotOnSignal({ dir: tmpdir(), keep: 0, logger })).toThrow(RangeError);
  });
});

describe("live-object gauges", () => {
  it("show the current counts on every scrape", async () => {
    const registry = new Registry();
    let current = counts;
    memoryGauges(registry, () => current);
    const first = await registry.metrics();
    expect(first).toContain('tether_live_objects{kind="clients"} 3');
    expect(first).toContain('tether_live_objects{kind="timers"} 4');
    current = { clients: 0, persistentSessions: 0, pendingCommands: 0, forwarderQueue: 0 };
    const second = await registry.metrics();
    expect(second).toContain('tether_live_objects{kind="clients"} 0');
    expect(second).not.toContain('kind="timers"');
  });
});

describe("GET /debug/memory", () => {
  it("answers memory and counts as JSON, behind whatever auth the caller mounts", async () => {
    const app = new Hono();
    app.use("/debug/*", async (c, next) => {
      if (c.req.header("authorization") !== "Bearer t")
        return c.json({ error: { code: "unauthorized", message: "no" } }, 401);
      await next();
    });
    app.route(
      "/",
      debugMemoryRoute(
        () => ({ ...counts, extra: 9 }) as LiveCounts,
        () => memory,
      ),
    );

    expect((await app.request("/debug/memory")).status).toBe(401);
    const response = await app.request("/debug/memory", { headers: { authorization: "Bearer t" } });
    expect(response.status).toBe(200);
    const body: unknown = await response.json();
    expect(body).toMatchObject({ pid: process.pid, memory, counts });
    expect(body).not.toHaveProperty("counts.extra");
  });
});
