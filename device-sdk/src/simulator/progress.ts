import type { SimulationStats } from "./simulation.js";

/** One line of simulator progress. */
export function formatProgress(stats: SimulationStats, elapsedMs: number): string {
  const c = stats.churn;
  return [
    `${Math.floor(elapsedMs / 1000)}s`,
    `routers ${stats.routers}`,
    `connected ${stats.connected}`,
    `reconnecting ${stats.reconnecting}`,
    `down ${stats.down}`,
    `commands ${stats.commandsAnswered}`,
    `events ${stats.eventsPublished} (dropped ${stats.droppedEvents})`,
    `churn d${c.disconnect} h${c.halfOpen} t${c.takeover} v${c.vanish}`,
    `errors ${stats.errors}`,
  ].join(" | ");
}

export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

/**
 * Prints progress: a live line rewritten in place on a TTY, a plain line every
 * `plainIntervalMs` otherwise (logs and CI). Returns a stop function that ends the line.
 *
 * @example
 *   const stop = startProgress(process.stdout, () => sim.stats());
 */
export function startProgress(
  output: ProgressOutput,
  stats: () => SimulationStats,
  { ttyIntervalMs = 500, plainIntervalMs = 10_000 } = {},
): () => void {
  const started = Date.now();
  const tty = output.isTTY === true;
  const print = () => {
    const line = formatProgress(stats(), Date.now() - started);
    output.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  const timer = setInterval(print, tty ? ttyIntervalMs : plainIntervalMs);
  return () => {
    clearInterval(timer);
    print();
    if (tty) output.write("\n");
  };
}
