import { getHeapCodeStatistics, getHeapStatistics } from "node:v8";

/**
 * The live-object counts the memory diagnostics report beside the process's
 * memory (issue 6). RunningBroker.stats() returns a superset, so the broker can
 * pass `() => broker.stats()` wherever a CountsSource is asked for.
 */
export interface LiveCounts {
  /** Connected MQTT clients. */
  clients: number;
  /** Persistent (clean=false) sessions, online or not. */
  persistentSessions: number;
  /** Commands waiting for a device's result. */
  pendingCommands: number;
  /** Events buffered for the edge. */
  forwarderQueue: number;
  /** Live timers of the broker's clock, when it counts them. */
  timers?: number;
}

export type CountsSource = () => Promise<LiveCounts> | LiveCounts;

/** The memory fields of process.memoryUsage() that the diagnostics report, plus V8's code. */
export interface MemoryFigures {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /**
   * Bytes of compiled code and bytecode with their metadata (v8.getHeapCodeStatistics),
   * part of heapUsed. It grows for the first tens of minutes as V8 optimizes functions
   * that get hot, then stops: bounded by the program, not by traffic. Telling it apart
   * from data is how a slow climb is read as warm-up or as a leak (docs/MEMORY.md).
   */
  code: number;
  /**
   * Physical memory V8's heap holds (v8.getHeapStatistics's total_physical_size): heapUsed plus
   * the pages V8 keeps committed but unused. RSS less it is the memory outside V8's heap
   * (malloc, the allocator's own, buffers), so a slow climb can be placed on one side or the other.
   */
  heapPhysical: number;
}

export type MemoryUsageSource = () => MemoryFigures;

/** process.memoryUsage(), trimmed to the figures we report, and V8's code size. */
export function processMemory(): MemoryFigures {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const heapPhysical = getHeapStatistics().total_physical_size;
  return { rss, heapTotal, heapUsed, external, arrayBuffers, code: v8CodeBytes(), heapPhysical };
}

/** Compiled code and bytecode, with their metadata, in V8's heap (bytes). */
export function v8CodeBytes(): number {
  const stats = getHeapCodeStatistics();
  return stats.code_and_metadata_size + stats.bytecode_and_metadata_size;
}

/** Only the count fields, in a fixed order (a stats() object may carry more). */
export function pickCounts(counts: LiveCounts): LiveCounts {
  const picked: LiveCounts = {
    clients: counts.clients,
    persistentSessions: counts.persistentSessions,
    pendingCommands: counts.pendingCommands,
    forwarderQueue: counts.forwarderQueue,
  };
  if (counts.timers !== undefined) picked.timers = counts.timers;
  return picked;
}
