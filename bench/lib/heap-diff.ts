/**
 * Where does a broker's per-connection memory go? Takes a heap snapshot of a
 * broker child (bench/lib/broker-process.ts) before and after N idle
 * connections and prints the object groups that grew, per connection.
 * Debug tool, not part of `npm run bench:broker`:
 *
 *   npx tsx bench/lib/heap-diff.ts --kind tether --connections 2000
 */
import { readFileSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BrokerChild } from "./broker-child.js";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "./raw-mqtt.js";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Sums self sizes and counts by "type name" (strings and code are grouped by type only). */
function groups(path: string): Map<string, { count: number; bytes: number }> {
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  const snapshot = raw as Snapshot; // V8's own output, written by our child a moment ago
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt] ?? 0] ?? "?";
    const name = snapshot.strings[snapshot.nodes[i + nameAt] ?? 0] ?? "?";
    const key = type === "object" || type === "closure" || type === "native" ? `${type} ${name}` : `${type}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt] ?? 0;
    out.set(key, entry);
  }
  return out;
}

const { values } = parseArgs({
  options: {
    kind: { type: "string", default: "tether" },
    connections: { type: "string", default: "2000" },
    subscribe: { type: "boolean", default: false },
    top: { type: "string", default: "40" },
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

const a = groups(before);
const b = groups(after);
rmSync(before);
rmSync(after);
const rows = [...b.entries()]
  .map(([key, value]) => {
    const old = a.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: (value.count - old.count) / n, bytes: (value.bytes - old.bytes) / n };
  })
  .filter((row) => Math.abs(row.bytes) >= 1)
  .sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
console.log(`${kind}: ${n} idle connections; heap growth per connection ≈ ${total.toFixed(0)} B`);
console.log("bytes/conn  objects/conn  group");
for (const row of rows.slice(0, Number(values.top))) {
  console.log(`${row.bytes.toFixed(0).padStart(10)}  ${row.count.toFixed(2).padStart(12)}  ${row.key}`);
}
