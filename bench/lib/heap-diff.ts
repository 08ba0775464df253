/**
 * Where does a broker's per-connection memory go? Takes a heap snapshot of a
 * broker child (bench/lib/broker-process.ts) before and after N idle
 * connections and prints the object groups that grew, per connection.
 * Debug tool, not part of `npm run bench:broker`:
 *
 *   npx tsx bench/lib/heap-diff.ts --kind tether --connections 2000
 *   npx tsx bench/lib/heap-diff.ts --retainers "object Packet"   # who holds that group, after
 */
import { readFileSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BrokerChild } from "./broker-child.js";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "./raw-mqtt.js";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function load(path: string): Snapshot {
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  return raw as Snapshot; // V8's own output, written by our child a moment ago
}

/** The group key of the node at offset `i`: "type name" (strings and code by type only). */
function keyOf(snapshot: Snapshot, i: number): string {
  const fields = snapshot.snapshot.meta.node_fields;
  const type = snapshot.snapshot.meta.node_types[0][snapshot.nodes[i + fields.indexOf("type")] ?? 0] ?? "?";
  const name = snapshot.strings[snapshot.nodes[i + fields.indexOf("name")] ?? 0] ?? "?";
  return type === "object" || type === "closure" || type === "native" ? `${type} ${name}` : `${type}`;
}

/** Sums self sizes and counts by group key. */
function groups(snapshot: Snapshot): Map<string, { count: number; bytes: number }> {
  const fields = snapshot.snapshot.meta.node_fields;
  const sizeAt = fields.indexOf("self_size");
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const key = keyOf(snapshot, i);
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt] ?? 0;
    out.set(key, entry);
  }
  return out;
}

/** For the nodes of group `target`: counts and bytes by "retainer group --edge-->". */
function retainers(snapshot: Snapshot, target: string): Map<string, { count: number; bytes: number }> {
  const { node_fields: nf, edge_fields: ef, edge_types } = snapshot.snapshot.meta;
  const edgeCountAt = nf.indexOf("edge_count");
  const sizeAt = nf.indexOf("self_size");
  const [edgeTypeAt, edgeNameAt, toAt] = ["type", "name_or_index", "to_node"].map((f) => ef.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const out = new Map<string, { count: number; bytes: number }>();
  let edge = 0;
  for (let i = 0; i < snapshot.nodes.length; i += nf.length) {
    const count = snapshot.nodes[i + edgeCountAt] ?? 0;
    for (let e = 0; e < count; e++, edge += ef.length) {
      const to = snapshot.edges[edge + toAt] ?? 0;
      if (keyOf(snapshot, to) !== target) continue;
      const edgeType = edge_types[0][snapshot.edges[edge + edgeTypeAt] ?? 0] ?? "?";
      if (edgeType === "weak") continue;
      const raw = snapshot.edges[edge + edgeNameAt] ?? 0;
      const name = edgeType === "element" || edgeType === "hidden" ? `[${raw}]` : snapshot.strings[raw];
      const key = `${keyOf(snapshot, i)} --${edgeType}:${name}-->`;
      const entry = out.get(key) ?? { count: 0, bytes: 0 };
      entry.count++;
      entry.bytes += snapshot.nodes[to + sizeAt] ?? 0;
      out.set(key, entry);
    }
  }
  return out;
}

const { values } = parseArgs({
  options: {
    kind: { type: "string", default: "tether" },
    connections: { type: "string", default: "2000" },
    subscribe: { type: "boolean", default: false },
    top: { type: "string", default: "40" },
    retainers: { type: "string" },
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

const beforeSnapshot = load(before);
const afterSnapshot = load(after);
const a = groups(beforeSnapshot);
const b = groups(afterSnapshot);
rmSync(before);
rmSync(after);
if (values.retainers) {
  const old = retainers(beforeSnapshot, values.retainers);
  const rows = [...retainers(afterSnapshot, values.retainers).entries()]
    .map(([key, v]) => {
      const was = old.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: (v.count - was.count) / n, bytes: (v.bytes - was.bytes) / n };
    })
    .filter((row) => Math.abs(row.bytes) >= 1)
    .sort((x, y) => y.bytes - x.bytes);
  console.log(`growth of "${values.retainers}" per connection, by retainer (count, bytes):`);
  for (const row of rows.slice(0, Number(values.top))) {
    console.log(`${row.count.toFixed(2).padStart(8)} ${row.bytes.toFixed(0).padStart(8)}  ${row.key}`);
  }
}
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
