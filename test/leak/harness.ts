import { settledHeapUsed } from "./gc.js";
import type { ChurnTarget } from "./target.js";
import { SESSION_EXPIRY_SECONDS } from "./target.js";
import { churnRound, type Outcomes, type RoundSize } from "./workload.js";

type Stats = Awaited<ReturnType<ChurnTarget["broker"]["stats"]>>;

export interface HarnessResult {
  /** Connections opened after the baseline was taken. */
  connections: number;
  baselineHeap: number;
  /** Heap after each round's settle and full GC. */
  roundHeaps: number[];
  finalHeap: number;
  /** finalHeap − baselineHeap, bytes. */
  growth: number;
  baselineStats: Stats;
  finalStats: Stats;
  outcomes: Outcomes;
}

export function connectionsPerRound(size: RoundSize): number {
  return (
    size.full +
    2 * size.takeovers +
    size.timeouts +
    size.queued +
    size.halfOpen +
    size.resets +
    size.silentConnects
  );
}

/** Waits until no client, pending command or forwarded event is left, then expires and reaps every session. */
async function settle(target: ChurnTarget, timeoutMs = 20_000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  let stats = await target.broker.stats();
  while (
    (stats.clients > 0 || stats.pendingCommands > 0 || stats.forwarderQueue > 0) &&
    Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    stats = await target.broker.stats();
  }
  target.clock.advance((SESSION_EXPIRY_SECONDS + 1) * 1_000);
  await target.broker.reapExpiredSessions();
  // Reaping pushes session_expired presence events: let the forwarder deliver them.
  for (;;) {
    stats = await target.broker.stats();
    if (stats.forwarderQueue === 0 || Date.now() > deadline) return stats;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The leak harness: warm-up rounds (so pools, JIT code and lazily built
 * tables exist), a baseline heap after full GC, `rounds` more rounds, settle,
 * full GC, and the heap again. Counts are read after each settle.
 */
export async function runLeakHarness(
  target: ChurnTarget,
  options: { size: RoundSize; warmupRounds: number; rounds: number; label: string },
): Promise<HarnessResult> {
  for (let round = 0; round < options.warmupRounds; round++) {
    await churnRound(target, `${options.label}-w${round}`, options.size);
  }
  const baselineStats = await settle(target);
  const baselineHeap = await settledHeapUsed();
  const outcomes: Outcomes = {};
  const roundHeaps: number[] = [];
  let finalStats = baselineStats;
  for (let round = 0; round < options.rounds; round++) {
    const got = await churnRound(target, `${options.label}-${round}`, options.size);
    for (const [key, n] of Object.entries(got)) outcomes[key] = (outcomes[key] ?? 0) + n;
    finalStats = await settle(target);
    roundHeaps.push(await settledHeapUsed());
  }
  const finalHeap = roundHeaps.at(-1) ?? baselineHeap;
  return {
    roundHeaps,
    connections: connectionsPerRound(options.size) * options.rounds,
    baselineHeap,
    finalHeap,
    growth: finalHeap - baselineHeap,
    baselineStats,
    finalStats,
    outcomes,
  };
}

export const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

export function describeResult(name: string, r: HarnessResult): string {
  return (
    `${name}: ${r.connections} connections, heap ${kib(r.baselineHeap)} → ${kib(r.finalHeap)} ` +
    `[${r.roundHeaps.map(kib).join(", ")}] ` +
    `(${r.growth >= 0 ? "+" : ""}${kib(r.growth)}, ${(r.growth / r.connections).toFixed(0)} B/connection); ` +
    `stats ${JSON.stringify(r.finalStats)}; outcomes ${JSON.stringify(r.outcomes)}`
  );
}
