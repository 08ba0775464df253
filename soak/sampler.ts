import type { BrokerProcess } from "./broker-process.js";
import type { InspectorGc } from "./inspector-gc.js";

/** One reading of the broker's memory, `t` seconds into the run. */
export interface Sample {
  t: number;
  /** VmRSS from /proc, bytes. */
  rss: number;
  /** From /debug/memory or /metrics; null when neither answered. */
  heapUsed: number | null;
  external: number | null;
  arrayBuffers: number | null;
  clients: number | null;
  persistentSessions: number | null;
  pendingCommands: number | null;
  forwarderQueue: number | null;
  /** After a full GC forced through the inspector (every --gc-every): VmRSS and V8 heap used; else null. */
  liveRss: number | null;
  liveHeap: number | null;
  /**
   * V8's compiled code and bytecode (with metadata) right after that GC, from
   * /debug/memory's `code`; null without a forced GC or on an older broker. It is the
   * JIT's warm-up, bounded by the program: the gate subtracts it (docs/MEMORY.md).
   */
  liveCode: number | null;
  /**
   * Physical memory of V8's heap right after that GC (/debug/memory's `heapPhysical`): the
   * live heap plus the pages V8 keeps committed. Absent in runs recorded before it.
   */
  liveHeapPhysical?: number | null;
}

type Extra = Omit<Sample, "t" | "rss" | "liveRss" | "liveHeap" | "liveCode" | "liveHeapPhysical">;

/** Readings a sample lacks when neither /debug/memory nor /metrics answered (also soak/verdict.ts). */
export const EMPTY: Extra = {
  heapUsed: null,
  external: null,
  arrayBuffers: null,
  clients: null,
  persistentSessions: null,
  pendingCommands: null,
  forwarderQueue: null,
};

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function field(record: unknown, key: string): unknown {
  return typeof record === "object" && record !== null ? Reflect.get(record, key) : undefined;
}

/** `GET /debug/memory` (broker/src/diagnostics): memory and live counts as JSON. */
function fromDebugMemory(body: unknown): Extra {
  const memory = field(body, "memory");
  const counts = field(body, "counts");
  return {
    heapUsed: num(field(memory, "heapUsed")),
    external: num(field(memory, "external")),
    arrayBuffers: num(field(memory, "arrayBuffers")),
    clients: num(field(counts, "clients")),
    persistentSessions: num(field(counts, "persistentSessions")),
    pendingCommands: num(field(counts, "pendingCommands")),
    forwarderQueue: num(field(counts, "forwarderQueue")),
  };
}

/** The value of an unlabelled (or exactly labelled) series in Prometheus text. */
function series(text: string, name: string): number | null {
  const escaped = name.replace(/[{}"=]/g, (c) => `\\${c}`);
  const match = new RegExp(`^${escaped} ([0-9.eE+-]+)$`, "m").exec(text);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/** `/metrics`: the broker's gauges (tether_live_objects when wired, else the older gauges). */
function fromMetrics(text: string): Extra {
  const live = (kind: string) => series(text, `tether_live_objects{kind="${kind}"}`);
  return {
    heapUsed: series(text, "tether_heap_used_bytes") ?? series(text, "nodejs_heap_size_used_bytes"),
    external: series(text, "tether_external_bytes") ?? series(text, "nodejs_external_memory_bytes"),
    arrayBuffers: series(text, "tether_array_buffers_bytes"),
    clients: live("clients") ?? series(text, "tether_connections"),
    persistentSessions: live("persistent_sessions") ?? series(text, "tether_sessions"),
    pendingCommands: live("pending_commands") ?? series(text, "tether_pending_commands"),
    forwarderQueue: live("forwarder_queue") ?? series(text, "tether_forwarder_queue_depth"),
  };
}

/** Samples the broker: /proc for RSS, then /debug/memory, falling back to /metrics once it 404s. */
export class MemorySampler {
  private source: "debug" | "metrics" = "debug";
  private lastGcAt = Number.NEGATIVE_INFINITY;
  gcFailures = 0;

  constructor(
    private readonly broker: BrokerProcess,
    private readonly token: string,
    private readonly startedAt: number,
    private readonly gc: { inspector: InspectorGc; everyMs: number } | null = null,
  ) {}

  get sourceName(): string {
    return this.source === "debug" ? "/debug/memory" : "/metrics";
  }

  /** Natural readings first; then, when one is due, a forced full GC and the live readings. */
  async sample({ forceGc = false } = {}): Promise<Sample> {
    const t = (performance.now() - this.startedAt) / 1000;
    const rss = this.broker.vmRss();
    const extra = await this.extra();
    let liveRss: number | null = null;
    let liveHeap: number | null = null;
    let liveCode: number | null = null;
    let liveHeapPhysical: number | null = null;
    const now = performance.now();
    if (this.gc && (forceGc || now - this.lastGcAt >= this.gc.everyMs)) {
      this.lastGcAt = now;
      try {
        liveHeap = await this.gc.inspector.collect();
        liveRss = this.broker.vmRss();
        ({ code: liveCode, heapPhysical: liveHeapPhysical } = await this.afterGc());
      } catch {
        this.gcFailures++;
      }
    }
    return { t, rss, ...extra, liveRss, liveHeap, liveCode, liveHeapPhysical };
  }

  /** `code` (V8's code and bytecode) and `heapPhysical` from /debug/memory, bytes, or nulls. */
  private async afterGc(): Promise<{ code: number | null; heapPhysical: number | null }> {
    if (this.source !== "debug") return { code: null, heapPhysical: null };
    const response = await fetch(`${this.broker.httpUrl}/debug/memory`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (!response.ok) {
      await response.arrayBuffer();
      return { code: null, heapPhysical: null };
    }
    const memory = field(await response.json(), "memory");
    return { code: num(field(memory, "code")), heapPhysical: num(field(memory, "heapPhysical")) };
  }

  private async extra(): Promise<Extra> {
    const headers = { authorization: `Bearer ${this.token}` };
    try {
      if (this.source === "debug") {
        const response = await fetch(`${this.broker.httpUrl}/debug/memory`, { headers });
        if (response.ok) return fromDebugMemory(await response.json());
        await response.arrayBuffer();
        if (response.status === 404) this.source = "metrics";
        else return EMPTY;
      }
      const response = await fetch(`${this.broker.httpUrl}/metrics`, { headers });
      if (!response.ok) return EMPTY;
      return fromMetrics(await response.text());
    } catch {
      return EMPTY;
    }
  }
}
