/**
 * Memory diagnosis built into the broker (issue 6, docs/MEMORY.md): a periodic
 * memory log line, heap snapshots on SIGUSR2, live-object gauges for /metrics and
 * `GET /debug/memory`. Each part takes a CountsSource, e.g. `() => broker.stats()`.
 */
export type { CountsSource, LiveCounts, MemoryFigures, MemoryUsageSource } from "./counts.js";
export { processMemory, v8CodeBytes } from "./counts.js";
export { type DebugMemoryBody, debugMemoryRoute } from "./debug-route.js";
export { LIVE_OBJECTS_GAUGE, memoryGauges } from "./gauges.js";
export {
  type HeapSnapshotOptions,
  installHeapSnapshotOnSignal,
  pruneHeapSnapshots,
  writeHeapSnapshotInto,
} from "./heap-snapshot.js";
export { type IntervalTimers, type MemoryLogOptions, startMemoryLog } from "./memory-log.js";
export {
  MEMORY_TREND_DEFAULTS,
  MEMORY_TREND_GAUGE,
  MEMORY_TREND_SPAN_GAUGE,
  MemoryTrend,
  type MemoryTrendOptions,
  startMemoryTrend,
  type Trend,
} from "./memory-trend.js";
