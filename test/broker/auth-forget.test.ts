import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heapGroups, loadHeapSnapshot, retainerGroups } from "../../scripts/lib/heap-snapshot-file.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

// A broker and 20 connected, subscribed devices in one small process, then a heap
// snapshot: mqtt-packet's parser (the broker side) must no longer hold any CONNECT
// packet's password. The devices' own mqtt.js keeps its password in plain objects, not
// in mqtt-packet `Packet`s, so "Packet --password-->" can only be the broker's.
const CHILD = `
import { writeHeapSnapshot } from "node:v8";
import mqtt from "mqtt";
const { startBroker } = await import("./broker/src/index.ts");
const { devicePassword } = await import("./protocol/src/index.ts");
const { default: pino } = await import("pino");
const broker = await startBroker({
  deviceSecret: "auth-forget-secret-0123456789abcdef", brokerApiToken: "auth-forget-token-0123456789",
  mqttPort: 0, httpPort: 0, host: "127.0.0.1", logger: pino({ level: "silent" }), memoryLogIntervalSeconds: 0,
});
const clients = [];
for (let i = 0; i < 20; i++) {
  const id = "forget-" + i;
  const password = await devicePassword("auth-forget-secret-0123456789abcdef", id);
  const client = await mqtt.connectAsync(broker.mqttUrl, { clientId: id, username: id, password, clean: false, reconnectPeriod: 0 });
  await client.subscribeAsync("devices/" + id + "/commands", { qos: 1 });
  clients.push(client);
}
writeHeapSnapshot(process.argv[1]);
await Promise.all(clients.map((c) => c.endAsync()));
await broker.close();
`;

describe("the broker forgets the CONNECT packet once authentication is decided", () => {
  let dir: string;
  let path: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-auth-forget-"));
    path = join(dir, "broker.heapsnapshot");
    await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, path], { cwd: ROOT });
  }, 90_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps no device password in mqtt-packet's parser, for 20 live routers", () => {
    const snapshot = loadHeapSnapshot(path);
    // The snapshot is of a live broker with its routers: there are parsers to look at.
    expect(heapGroups(snapshot).get("object Parser")?.count ?? 0).toBeGreaterThanOrEqual(20);
    const holders = [...retainerGroups(snapshot, "object Buffer").keys()];
    expect(holders.filter((key) => key.startsWith("object Packet --property:password-->"))).toEqual([]);
  });
});
