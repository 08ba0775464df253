/**
 * What one rate of the overload leg (leg.ts) measured, from the generator's samples: the
 * summary row of the report, the recovery after the burst, and the raw samples on request.
 */
import { writeFileSync } from "node:fs";
import type { Sample } from "./open-loop.js";

/**
 * `BENCH_OVERLOAD_SAMPLES=/tmp/run`: each rate's requests to `/tmp/run-<factor>.json`, one
 * `[dueMs, latencyMs, status, lateMs, waitedMs]` per request, to see *when* the slow ones
 * were sent (the onset of a burst, or a sawtooth of the limit: docs/BENCHMARKS.md).
 */
export function dumpSamples(factor: number, samples: Sample[], config = 0): void {
  const prefix = process.env.BENCH_OVERLOAD_SAMPLES;
  if (!prefix) return;
  const tenth = (ms: number) => Math.round(ms * 10) / 10;
  const rows = samples.map((s) => [
    Math.round(s.dueMs),
    tenth(s.latencyMs),
    s.status,
    tenth(s.lateMs),
    tenth(s.waitedMs),
  ]);
  // One file per configuration and rate (the second configuration's used to overwrite the first's).
  writeFileSync(`${prefix}-c${config}-${factor}.json`, JSON.stringify(rows));
}

/**
 * The first second of a burst is its onset: the limit still at its ceiling, every router's
 * queue filling before the first cut (docs/BENCHMARKS.md, "Overload: the limit's onset and its
 * sawtooth"). The p99 from then on is reported beside the whole burst's.
 */
const ONSET_MS = 1_000;

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null);

/** The p99 of some numbers, in any order. */
const p99Of = (values: number[]) =>
  percentile(
    values.sort((a, b) => a - b),
    0.99,
  );

/** The failures (neither 200 nor a 429/503 refusal) by status, "0" for no answer: `{"0": 39, "504": 230}`. */
export function failedByStatus(samples: Sample[]): Record<string, number> {
  const by: Record<string, number> = {};
  for (const s of samples) {
    if (s.status === 200 || s.status === 429 || s.status === 503) continue;
    by[s.status] = (by[s.status] ?? 0) + 1;
  }
  return by;
}

export function summarize(factor: number, offered: number, seconds: number, samples: Sample[]) {
  const ok = samples.filter((s) => s.status === 200);
  const refusals = samples.filter((s) => s.status === 429 || s.status === 503);
  const latencies = ok.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    factor,
    offered,
    sent: samples.length,
    ok: ok.length,
    shed: samples.filter((s) => s.status === 503).length,
    limited: samples.filter((s) => s.status === 429).length,
    failed: samples.length - ok.length - refusals.length,
    failedBy: failedByStatus(samples),
    goodput: ok.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    p99Steady: p99Of(ok.filter((s) => s.dueMs >= ONSET_MS).map((s) => s.latencyMs)),
    // A loop, not Math.max(...): 160,000 samples (4× a knee of 4,000) overflow the call stack.
    maxMs: samples.reduce((most, s) => Math.max(most, s.latencyMs), 0),
    maxRefusalMs: refusals.reduce((most, s) => Math.max(most, s.latencyMs), 0),
    refusalsWithoutRetryAfter: refusals.filter((s) => s.retryAfter === null).length,
    sendLateP99: p99Of(samples.map((s) => s.lateMs)),
    poolWaitP99: p99Of(samples.map((s) => s.waitedMs)),
  };
}

/** The first probe from which every probe is a 200 within `limitMs`; its due time, or null. */
export function recovery(probes: Sample[], limitMs: number): number | null {
  let from: number | null = null;
  for (const probe of probes) {
    const fast = probe.status === 200 && probe.latencyMs <= limitMs;
    if (!fast) from = null;
    else from ??= probe.dueMs;
  }
  return from;
}
