import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import type { MqttClient } from "mqtt";
import { BENCH_API_TOKEN } from "../ipc.js";
import { startNodePeer } from "../peers/peers.js";
import { answeringDevice } from "../peers/round-trip.js";
import { openLoop, type Sample } from "./open-loop.js";

export interface OverloadOptions {
  /** The sustainable rate (commands/s) the offered rates are multiples of. */
  knee: number;
  factors: number[];
  seconds: number;
  devices: number;
  /** Also run every rate with admission control off (the broker before issue 17). */
  compare: boolean;
}

export interface RateRun {
  factor: number;
  offered: number;
  sent: number;
  ok: number;
  /** 503 overloaded. */
  shed: number;
  /** 429 rate_limited. */
  limited: number;
  /** 504, other statuses and no answer. */
  failed: number;
  /** ok per second of the run. */
  goodput: number;
  /** Latency of the 200s, from the scheduled send (ms). */
  p50: number | null;
  p99: number | null;
  /** Slowest answer of any kind, and slowest refusal (429/503), ms. */
  maxMs: number;
  maxRefusalMs: number;
  /** How late the generator itself sent requests (p99, ms): when high, the client, not the broker, fell behind. */
  sendLateP99: number | null;
  /** Refusals without a Retry-After header. */
  refusalsWithoutRetryAfter: number;
  /** ms after the burst until probes are as fast as before it; null = not within the probe window. */
  recoveryMs: number | null;
}

export interface OverloadConfigResult {
  label: string;
  settings: Record<string, number>;
  runs: RateRun[];
}

export interface OverloadResult {
  options: OverloadOptions;
  configs: OverloadConfigResult[];
  error: string | null;
}

/** After each burst: this many probes a second, for this long, tell when the broker is fast again. */
const PROBE_RATE = 20;
const PROBE_SECONDS = 4;
/** Each command may wait this long for its device (its timeoutMs); the client gives up 5 s later. */
const COMMAND_TIMEOUT_MS = 5_000;
/** Connections the simulated Rails fleet holds to the broker at most. */
const MAX_SOCKETS = 2048;

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null);

function summarize(factor: number, offered: number, seconds: number, samples: Sample[]) {
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
    goodput: ok.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    maxMs: Math.max(0, ...samples.map((s) => s.latencyMs)),
    maxRefusalMs: Math.max(0, ...refusals.map((s) => s.latencyMs)),
    refusalsWithoutRetryAfter: refusals.filter((s) => s.retryAfter === null).length,
    sendLateP99: percentile(
      samples.map((s) => s.lateMs).sort((a, b) => a - b),
      0.99,
    ),
  };
}

/** The first probe from which every probe is a 200 within `limitMs`; its due time, or null. */
function recovery(probes: Sample[], limitMs: number): number | null {
  let from: number | null = null;
  for (const probe of probes) {
    const fast = probe.status === 200 && probe.latencyMs <= limitMs;
    if (!fast) from = null;
    else from ??= probe.dueMs;
  }
  return from;
}

/**
 * The overload leg of `npm run bench` (issue 17): Tether's broker in its own process,
 * `devices` answering routers, open-loop commands through the broker API at each
 * multiple of the knee for `seconds`, then probes to time the recovery. With
 * `compare`, the same with admission control off.
 */
export async function overloadLeg(o: OverloadOptions, log: (line: string) => void): Promise<OverloadResult> {
  const configs: Array<{ label: string; settings: Record<string, number> }> = [
    { label: "admission control (defaults)", settings: {} },
    ...(o.compare
      ? [
          {
            label: "no admission control",
            settings: { maxEventLoopLagMs: 0, maxCommandsInFlight: 1_000_000 },
          },
        ]
      : []),
  ];
  const result: OverloadResult = { options: o, configs: [], error: null };
  try {
    for (const config of configs) {
      log(`  ${config.label}`);
      result.configs.push({ ...config, runs: await runConfig(o, config.settings, log) });
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  failed: ${result.error}`);
  }
  return result;
}

async function runConfig(
  o: OverloadOptions,
  settings: Record<string, number>,
  log: (line: string) => void,
): Promise<RateRun[]> {
  const peer = await startNodePeer("tether", undefined, settings);
  const devices: MqttClient[] = [];
  const agents: Agent[] = [];
  try {
    const prefix = `ovl-${randomBytes(3).toString("hex")}`;
    const ids = Array.from({ length: o.devices }, (_, i) => `${prefix}-${i}`);
    const mqttUrl = `mqtt://127.0.0.1:${peer.mqttPort}`;
    devices.push(...(await Promise.all(ids.map((id) => answeringDevice(mqttUrl, id)))));
    // Bound: MAX_SOCKETS connections, reused by every run of this configuration.
    const agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    agents.push(agent);
    const target = {
      agent,
      urls: ids.map((id) => new URL(`http://127.0.0.1:${peer.httpPort}/v1/devices/${id}/commands`)),
      token: BENCH_API_TOKEN,
      body: JSON.stringify({ name: "ping", timeoutMs: COMMAND_TIMEOUT_MS }),
      giveUpMs: COMMAND_TIMEOUT_MS + 5_000,
    };
    // Warm-up: the JIT and the connections, not measured.
    await openLoop(target, Math.round(o.knee / 2), 3).answered;
    const runs: RateRun[] = [];
    let baselineP99: number | null = null;
    for (const factor of o.factors) {
      const offered = Math.round(o.knee * factor);
      const burst = openLoop(target, offered, o.seconds);
      await burst.sent;
      const probes = openLoop(target, PROBE_RATE, PROBE_SECONDS);
      const [samples, probeSamples] = await Promise.all([burst.answered, probes.answered]);
      const summary = summarize(factor, offered, o.seconds, samples);
      baselineP99 ??= summary.p99;
      const limitMs = Math.max(2 * (baselineP99 ?? 10), 10);
      const run: RateRun = { ...summary, recoveryMs: recovery(probeSamples, limitMs) };
      runs.push(run);
      log(
        `    ${factor}× = ${offered}/s: ok ${run.ok}/${run.sent} (${Math.round(run.goodput)}/s), shed ${run.shed}, 429 ${run.limited}, failed ${run.failed}; p50 ${run.p50?.toFixed(1)} ms, p99 ${run.p99?.toFixed(1)} ms, slowest ${Math.round(run.maxMs)} ms (refusal ${Math.round(run.maxRefusalMs)} ms), sent late p99 ${run.sendLateP99?.toFixed(1)} ms; recovered ${run.recoveryMs === null ? "not within the probes" : `${Math.round(run.recoveryMs)} ms after`}`,
      );
    }
    return runs;
  } finally {
    for (const agent of agents) agent.destroy();
    await Promise.all(devices.map((d) => d.endAsync(true)));
    await peer.close();
  }
}
