import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { api, cleanupAll, connectDevice, deviceId, startTestBroker, waitFor } from "./helpers.js";

afterEach(cleanupAll);

describe("memory diagnosis built into the broker", () => {
  it("serves live counts and process memory at /debug/memory, behind the broker token", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    await connectDevice(broker, id);

    const refused = await api(broker, "/debug/memory", { token: null });
    expect(refused.status).toBe(401);

    const { status, body } = await api(broker, "/debug/memory");
    expect(status).toBe(200);
    expect(body).toMatchObject({
      counts: { clients: 1, pendingCommands: 0, forwarderQueue: 0 },
      memory: { rss: expect.any(Number), heapUsed: expect.any(Number), code: expect.any(Number) },
    });
    // V8's code is part of the heap: more than nothing (the broker has run), less than all of it.
    const memory = (body as { memory: { heapUsed: number; code: number } }).memory;
    expect(memory.code).toBeGreaterThan(0);
    expect(memory.code).toBeLessThan(memory.heapUsed);
  });

  it("exports the live counts as gauges in /metrics", async () => {
    const broker = await startTestBroker();
    await connectDevice(broker, deviceId());
    const { body } = await api(broker, "/metrics");
    expect(String(body)).toMatch(/tether_live_objects\{kind="clients"\} 1/);
    expect(String(body)).toMatch(/^tether_v8_code_bytes [1-9]\d*$/m);
  });

  it("writes a heap snapshot into HEAP_SNAPSHOT_DIR on SIGUSR2 and stops listening when closed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tether-heap-"));
    try {
      const before = process.listenerCount("SIGUSR2");
      // A folder that does not exist yet is created private (snapshots hold secrets).
      const snapshots = join(dir, "snapshots");
      const broker = await startTestBroker({ heapSnapshotDir: snapshots });
      expect(process.listenerCount("SIGUSR2")).toBe(before + 1);
      expect((await stat(snapshots)).mode & 0o777).toBe(0o700);
      process.kill(process.pid, "SIGUSR2");
      const files = await waitFor(async () => {
        const names = await readdir(snapshots);
        return names.some((name) => name.endsWith(".heapsnapshot")) ? names : null;
      }, 30_000);
      expect(files?.length).toBe(1);
      expect((await stat(join(snapshots, String(files?.[0])))).mode & 0o777).toBe(0o600);
      await broker.close();
      expect(process.listenerCount("SIGUSR2")).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
