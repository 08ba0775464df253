import type { Logger } from "pino";
import { type CountsSource, type MemoryUsageSource, pickCounts, processMemory } from "./counts.js";

/** Timer functions; the broker's Clock fits, so tests can drive the log with a manual clock. */
export interface IntervalTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface MemoryLogOptions {
  intervalMs: number;
  logger: Logger;
  counts: CountsSource;
  memoryUsage?: MemoryUsageSource;
  /** Default: Node's timers, unref'd so the log never keeps a process alive. */
  timers?: IntervalTimers;
}

/** Node's timers, unref'd: a diagnostic never keeps the process alive (also memory-trend.ts). */
export const nodeTimers: IntervalTimers = {
  setInterval(fn, ms) {
    const handle = setInterval(fn, ms);
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/**
 * Logs one `memory` line every `intervalMs`: rss, heapUsed, heapTotal, external,
 * arrayBuffers, code (bytes) and the live counts, so a slow leak shows in the logs long
 * before it shows in an alert. Returns stop().
 *
 * @example
 *   const stop = startMemoryLog({ intervalMs: 60_000, logger, counts: () => broker.stats() });
 *   // {"msg":"memory","rss":73400320,"heapUsed":21000000,...,"clients":200,"pendingCommands":0}
 *   stop();
 */
export function startMemoryLog(options: MemoryLogOptions): () => void {
  if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive number (got ${options.intervalMs})`);
  }
  const timers = options.timers ?? nodeTimers;
  const memoryUsage = options.memoryUsage ?? processMemory;
  // One line at a time: a slow counts() (Redis) never piles up overlapping reads.
  let inFlight = false;
  let stopped = false;

  async function logOnce(): Promise<void> {
    inFlight = true;
    try {
      const counts = pickCounts(await options.counts());
      if (!stopped) options.logger.info({ ...memoryUsage(), ...counts }, "memory");
    } catch (error) {
      options.logger.warn({ err: error }, "memory log: could not read counts");
    } finally {
      inFlight = false;
    }
  }

  const handle = timers.setInterval(() => {
    if (!inFlight) void logOnce();
  }, options.intervalMs);
  return function stopMemoryLog() {
    if (stopped) return;
    stopped = true;
    timers.clearInterval(handle);
  };
}
