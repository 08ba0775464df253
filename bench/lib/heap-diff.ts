/**
 * Where does a broker's per-connection memory go? Takes a heap snapshot of a
 * broker child (bench/lib/broker-process.ts) before and after N idle
 * connections and prints the object groups that grew, per connection.
 * Debug tool, not part of `npm run bench:broker`:
 *
 *   npx tsx bench/lib/heap-diff.ts --kind tether --connections 2000
 *   npx tsx bench/lib/heap-diff.ts --retainers "object Packet"   # who holds that group, after
 *   npx tsx bench/lib/heap-diff.ts --stores   # growth of out-of-object property stores, by owner
 */
import { rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  groupGrowth,
  heapGroups,
  loadHeapSnapshot,
  propertyStoreOwners,
  retainerGroups,
} from "../../scripts/lib/heap-snapshot-file.js";
import { BrokerChild } from "./broker-child.js";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "./raw-mqtt.js";

const { values } = parseArgs({
  options: {
    kind: { type: "string", default: "tether" },
    connections: { type: "string", default: "2000" },
    subscribe: { type: "boolean", default: false },
    top: { type: "string", default: "40" },
    retainers: { type: "string" },
    stores: { type: "boolean", default: false },
  },
});
const kind = values.kind === "aedes" ? "aedes" : "tether";
const n = Number(values.connections);

const broker = await BrokerChild.start(kind);
const endpoint = { host: "127.0.0.1", port: broker.mqttPort };
const warm = await Promise.all(
  Array.from({ length: 200 }, (_, i) => encodeSession(`hw-${i}`, values.subscribe)),
);
await runPool(warm.length, 50, async (i) =>
  closeSession(await openSession(endpoint, warm[i] as SessionPackets)),
);
const packets = await Promise.all(
  Array.from({ length: n }, (_, i) => encodeSession(`h-${i}`, values.subscribe)),
);
const before = await broker.heapSnapshot(join(tmpdir(), `tether-bench-before-${process.pid}.heapsnapshot`));
const sockets: Socket[] = [];
await runPool(n, 100, async (i) => {
  sockets.push(await openSession(endpoint, packets[i] as SessionPackets));
});
const after = await broker.heapSnapshot(join(tmpdir(), `tether-bench-after-${process.pid}.heapsnapshot`));
await runPool(sockets.length, 200, (i) => closeSession(sockets[i] as Socket));
await broker.close();

const beforeSnapshot = loadHeapSnapshot(before);
const afterSnapshot = loadHeapSnapshot(after);
rmSync(before);
rmSync(after);
if (values.retainers) {
  const rows = groupGrowth(
    retainerGroups(beforeSnapshot, values.retainers),
    retainerGroups(afterSnapshot, values.retainers),
    n,
  ).filter((row) => Math.abs(row.bytes) >= 1);
  console.log(`growth of "${values.retainers}" per connection, by retainer (count, bytes):`);
  for (const row of rows.slice(0, Number(values.top))) {
    console.log(`${row.count.toFixed(2).padStart(8)} ${row.bytes.toFixed(0).padStart(8)}  ${row.key}`);
  }
}
if (values.stores) {
  const rows = groupGrowth(propertyStoreOwners(beforeSnapshot), propertyStoreOwners(afterSnapshot), n).filter(
    (row) => Math.abs(row.bytes) >= 1,
  );
  console.log("growth of out-of-object property stores per connection, by owner (count, bytes):");
  for (const row of rows.slice(0, Number(values.top))) {
    console.log(`${row.count.toFixed(2).padStart(8)} ${row.bytes.toFixed(0).padStart(8)}  ${row.key}`);
  }
}
const rows = groupGrowth(heapGroups(beforeSnapshot), heapGroups(afterSnapshot), n).filter(
  (row) => Math.abs(row.bytes) >= 1,
);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
console.log(`${kind}: ${n} idle connections; heap growth per connection ≈ ${total.toFixed(0)} B`);
console.log("bytes/conn  objects/conn  group");
for (const row of rows.slice(0, Number(values.top))) {
  console.log(`${row.bytes.toFixed(0).padStart(10)}  ${row.count.toFixed(2).padStart(12)}  ${row.key}`);
}
