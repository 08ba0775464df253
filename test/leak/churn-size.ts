/**
 * The churn of issue 6 as npm test runs it: its size and the margin the heap must stay
 * within. Shared by the sound broker's test (churn.test.ts) and the proof that the same
 * harness catches a leak (churn-catches-leak.test.ts); two files, so each has a process
 * of its own and they can run side by side.
 */
import type { HarnessResult } from "./harness.js";
import type { Outcomes, RoundSize } from "./workload.js";

export const SIZE: RoundSize = {
  full: 500,
  takeovers: 50,
  timeouts: 50,
  queued: 100,
  halfOpen: 100,
  resets: 100,
  silentConnects: 20,
  concurrency: 20,
};
export const HARNESS = { size: SIZE, warmupRounds: 2, rounds: 2 };

/** ~10 s on an idle core (~13 s side by side); a loaded 2-core machine has stretched one to 90 s. */
export const CHURN_TEST_TIMEOUT_MS = 240_000;

/**
 * The stated margin: after warm-up, two rounds (1,940 connections) may move the
 * heap by at most 2 MiB — about 1 KiB per connection. Measured on this machine: a
 * sound broker stays within ±0.5 MiB; keeping each accepted socket (and so its
 * Aedes client) adds about 5 KiB per connection, ~10 MiB in all.
 */
export const HEAP_MARGIN_BYTES = 2 * 1024 * 1024;

export function expectedOutcomes(rounds: number): Outcomes {
  return {
    "command ok": SIZE.full * rounds,
    takeover: SIZE.takeovers * rounds,
    "command timed out": SIZE.timeouts * rounds,
    "command queued": SIZE.queued * rounds,
    "half-open closed by keepalive": SIZE.halfOpen * rounds,
    reset: SIZE.resets * rounds,
    "closed by connect timeout": SIZE.silentConnects * rounds,
  };
}

export function heapReturnedToBaseline(result: HarnessResult): boolean {
  return result.growth <= HEAP_MARGIN_BYTES;
}
