/**
 * Issue 12: a memory-mode broker remembers which devices were online across a restart
 * (STATE_DIR/online-devices.json, written atomically) and, after one, reports
 * `offline reason=broker_restart` for those that do not come back within 1.5 × their
 * keepalive. (The real SIGKILL is in test/e2e/nothing-lost.test.ts.)
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ROSTER_FILE } from "../../broker/src/devices/online-roster.js";
import {
  cleanupAll,
  connectDevice,
  deviceId,
  EVENTS_SECRET,
  onCleanup,
  startEventReceiver,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tether-state-"));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readRoster(dir: string): Promise<Array<[string, number]>> {
  try {
    return (
      JSON.parse(await readFile(join(dir, ROSTER_FILE), "utf8")) as { devices: Array<[string, number]> }
    ).devices;
  } catch {
    return [];
  }
}

describe("the online roster (memory mode, STATE_DIR)", () => {
  it("lists the devices online here, each with 1.5 × its keepalive, and none after a graceful close", async () => {
    const dir = await stateDir();
    const broker = await startTestBroker({ stateDir: dir });
    const id = deviceId();
    await connectDevice(broker, id, { keepalive: 4 });
    await waitFor(async () => (await readRoster(dir)).length === 1, 3_000, "the roster file");
    expect(await readRoster(dir)).toEqual([[id, 6_001]]);

    await broker.close();
    expect(await readRoster(dir)).toEqual([]);
    // Written by rename: no temp file is left behind.
    expect(await readdir(dir)).toEqual([ROSTER_FILE]);
  });

  it("after a crash, reports broker_restart for a listed device that does not come back in its grace, and not for one that does", async () => {
    const dir = await stateDir();
    const gone = deviceId("gone");
    const returning = deviceId("back");
    // What a broker killed with SIGKILL leaves: both devices were online.
    await writeFile(
      join(dir, ROSTER_FILE),
      JSON.stringify({
        version: 1,
        writtenAt: Date.now(),
        devices: [
          [gone, 800],
          [returning, 800],
        ],
      }),
    );
    const receiver = await startEventReceiver();
    const broker = await startTestBroker({
      stateDir: dir,
      edgeEventsUrl: receiver.url,
      edgeEventsSecret: EVENTS_SECRET,
    });
    await connectDevice(broker, returning);

    await waitFor(() => receiver.events.some((e) => e.deviceId === gone), 3_000, "broker_restart");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const presence = receiver.events.filter((e) => e.type === "presence");
    expect(presence).toEqual(
      expect.arrayContaining([
        { type: "presence", deviceId: gone, ts: expect.any(Number), online: false, reason: "broker_restart" },
        { type: "presence", deviceId: returning, ts: expect.any(Number), online: true, reason: "connect" },
      ]),
    );
    expect(presence.filter((e) => e.deviceId === returning && !e.online)).toEqual([]);
    expect(presence.filter((e) => e.deviceId === gone)).toHaveLength(1);
  });

  it("starts anyway with an unreadable roster file or an unusable STATE_DIR", async () => {
    const dir = await stateDir();
    await writeFile(join(dir, ROSTER_FILE), "{ not json");
    const broker = await startTestBroker({ stateDir: dir });
    await connectDevice(broker, deviceId());
    expect((await broker.stats()).clients).toBe(1);
    // A STATE_DIR that is a file: the broker serves, only without the roster.
    const elsewhere = await startTestBroker({ stateDir: join(dir, ROSTER_FILE) });
    await connectDevice(elsewhere, deviceId());
    expect((await elsewhere.stats()).clients).toBe(1);
  });
});
