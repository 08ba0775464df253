/**
 * The operational diagnostics a broker node starts after it listens: the periodic
 * memory log, the memory trend gauge and the heap snapshot on signal.
 */

import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { BrokerSettings } from "../context.js";
import type { CountsSource } from "./counts.js";
import { installHeapSnapshotOnSignal } from "./heap-snapshot.js";
import { startMemoryLog } from "./memory-log.js";
import { startMemoryTrend } from "./memory-trend.js";

/** Heap snapshots kept in HEAP_SNAPSHOT_DIR (each is tens of MB); older ones are deleted. */
const HEAP_SNAPSHOTS_KEPT = 3;

/** Starts them; returns the function that stops them all. */
export function startOperationalDiagnostics(
  settings: BrokerSettings,
  logger: Logger,
  registry: Registry,
  counts: CountsSource,
): () => void {
  // Node timers (unref'd), not the injected clock: the memory line is operational
  // output, and must not count as a live broker timer in leak tests.
  const stopMemoryLog =
    settings.memoryLogIntervalSeconds > 0
      ? startMemoryLog({ intervalMs: settings.memoryLogIntervalSeconds * 1000, logger, counts })
      : () => {};
  // The slope of the memory's low points over hours: a slow leak seen in days (issue 18).
  const memoryTrend = startMemoryTrend(registry);
  const uninstallHeapSnapshots = settings.heapSnapshotDir
    ? installHeapSnapshotOnSignal({ dir: settings.heapSnapshotDir, keep: HEAP_SNAPSHOTS_KEPT, logger })
    : () => {};
  return () => {
    stopMemoryLog();
    memoryTrend.stop();
    uninstallHeapSnapshots();
  };
}
