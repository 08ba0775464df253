/**
 * Reading V8 `.heapsnapshot` files (what SIGUSR2 writes, docs/MEMORY.md): objects
 * grouped by type and constructor, the growth between two snapshots, and who
 * retains a group. Used by `npm run heap-diff` and bench/lib/heap-diff.ts.
 */
import { readFileSync } from "node:fs";

export interface HeapSnapshotFile {
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

export interface GroupSize {
  count: number;
  bytes: number;
}

export interface GroupGrowth extends GroupSize {
  key: string;
}

/** Parses a snapshot; throws with the path when it is not one. */
export function loadHeapSnapshot(path: string): HeapSnapshotFile {
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  const meta = typeof raw === "object" && raw !== null ? Reflect.get(raw, "snapshot") : undefined;
  if (typeof meta !== "object" || meta === null || !Array.isArray(Reflect.get(raw as object, "nodes"))) {
    throw new Error(`${path} is not a V8 heap snapshot`);
  }
  return raw as HeapSnapshotFile; // shape checked above; the rest is V8's own format
}

/**
 * The group of the node at offset `i`: "object Foo", "closure bar", "native X", or the
 * bare type ("code", "string", "array", "hidden"…). V8's compiled code and its metadata
 * are all of type "code": JIT warm-up shows as growth of that one group.
 */
export function groupKey(snapshot: HeapSnapshotFile, i: number): string {
  const fields = snapshot.snapshot.meta.node_fields;
  const type = snapshot.snapshot.meta.node_types[0][snapshot.nodes[i + fields.indexOf("type")] ?? 0] ?? "?";
  const name = snapshot.strings[snapshot.nodes[i + fields.indexOf("name")] ?? 0] ?? "?";
  return type === "object" || type === "closure" || type === "native" ? `${type} ${name}` : `${type}`;
}

/** Self sizes and counts by group. */
export function heapGroups(snapshot: HeapSnapshotFile): Map<string, GroupSize> {
  const fields = snapshot.snapshot.meta.node_fields;
  const sizeAt = fields.indexOf("self_size");
  const out = new Map<string, GroupSize>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const key = groupKey(snapshot, i);
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt] ?? 0;
    out.set(key, entry);
  }
  return out;
}

/** Growth of each group from `before` to `after` (divided by `per`), biggest first. */
export function groupGrowth(
  before: Map<string, GroupSize>,
  after: Map<string, GroupSize>,
  per = 1,
): GroupGrowth[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys]
    .map((key) => {
      const was = before.get(key) ?? { count: 0, bytes: 0 };
      const now = after.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: (now.count - was.count) / per, bytes: (now.bytes - was.bytes) / per };
    })
    .sort((x, y) => y.bytes - x.bytes);
}

/** Where each field sits in the snapshot's flat node and edge arrays. */
function layout(snapshot: HeapSnapshotFile) {
  const { node_fields: nf, edge_fields: ef, edge_types } = snapshot.snapshot.meta;
  return {
    nf,
    ef,
    edge_types,
    edgeCountAt: nf.indexOf("edge_count"),
    sizeAt: nf.indexOf("self_size"),
    edgeTypeAt: ef.indexOf("type"),
    edgeNameAt: ef.indexOf("name_or_index"),
    toAt: ef.indexOf("to_node"),
  };
}

/** For the nodes of group `target`: counts and bytes by "retainer group --edge-->". */
export function retainerGroups(snapshot: HeapSnapshotFile, target: string): Map<string, GroupSize> {
  const { nf, ef, edge_types, edgeCountAt, sizeAt, edgeTypeAt, edgeNameAt, toAt } = layout(snapshot);
  const out = new Map<string, GroupSize>();
  let edge = 0;
  for (let i = 0; i < snapshot.nodes.length; i += nf.length) {
    const count = snapshot.nodes[i + edgeCountAt] ?? 0;
    for (let e = 0; e < count; e++, edge += ef.length) {
      const to = snapshot.edges[edge + toAt] ?? 0;
      if (groupKey(snapshot, to) !== target) continue;
      const edgeType = edge_types[0][snapshot.edges[edge + edgeTypeAt] ?? 0] ?? "?";
      if (edgeType === "weak") continue;
      const raw = snapshot.edges[edge + edgeNameAt] ?? 0;
      // Indices ("[3]", internal "4100") differ per slot; one "[]" groups a table's slots.
      const named = edgeType === "element" || edgeType === "hidden" ? "" : (snapshot.strings[raw] ?? "");
      const name = named === "" || /^\d+$/.test(named) ? "[]" : named;
      const key = `${groupKey(snapshot, i)} --${edgeType}:${name}-->`;
      const entry = out.get(key) ?? { count: 0, bytes: 0 };
      entry.count++;
      entry.bytes += snapshot.nodes[to + sizeAt] ?? 0;
      out.set(key, entry);
    }
  }
  return out;
}

/**
 * Out-of-object property stores (V8 arrays reached by an object's internal `properties`
 * edge), by owner: "object Foo {first, named, properties}". A store is what an object pays
 * for keys beyond its in-object slots, or for a dictionary (after a `delete`; such an object
 * shows few or no named properties beside a store of ~160 B).
 */
export function propertyStoreOwners(snapshot: HeapSnapshotFile, shownNames = 6): Map<string, GroupSize> {
  const { nf, ef, edge_types, edgeCountAt, sizeAt, edgeTypeAt, edgeNameAt, toAt } = layout(snapshot);
  const out = new Map<string, GroupSize>();
  let edge = 0;
  for (let i = 0; i < snapshot.nodes.length; i += nf.length) {
    const count = snapshot.nodes[i + edgeCountAt] ?? 0;
    const names: string[] = [];
    let store = -1;
    for (let e = 0; e < count; e++, edge += ef.length) {
      const type = edge_types[0][snapshot.edges[edge + edgeTypeAt] ?? 0];
      const name = snapshot.strings[snapshot.edges[edge + edgeNameAt] ?? 0] ?? "";
      if (type === "property" && name !== "__proto__" && names.length < shownNames) names.push(name);
      const to = snapshot.edges[edge + toAt] ?? 0;
      if (type === "internal" && name === "properties" && groupKey(snapshot, to) === "array") store = to;
    }
    if (store < 0) continue;
    const key = `${groupKey(snapshot, i)} {${names.join(", ")}}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[store + sizeAt] ?? 0;
    out.set(key, entry);
  }
  return out;
}
