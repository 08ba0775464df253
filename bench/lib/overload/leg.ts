import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { BENCH_API_TOKEN } from "../ipc.js";
import { startNodePeer } from "../peers/peers.js";
import { type OpenLoopTarget, openLoop, type Sample } from "./open-loop.js";
import { postRequest, RawHttpPool } from "./raw-http.js";

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
const ROUTERS_ENTRY = fileURLToPath(new URL("./routers-child.ts", import.meta.url));

/** The answering routers in a child process (routers-child.ts); resolves once they are subscribed. */
export async function startRouters(mqttUrl: string, prefix: string, count: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", ROUTERS_ENTRY, "--mqtt-url", mqttUrl, "--prefix", prefix, "--count", String(count)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the routers exited early (code ${code})`)));
    child.once("message", () => resolve());
  });
  return child;
}

export async function stopRouters(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.send("close");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

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
  const systems: System[] = [];
  try {
    for (const config of configs) {
      systems.push(await startSystem(o, config.settings));
      result.configs.push({ ...config, runs: [] });
    }
    // Rate by rate, each configuration in turn: the machine's other load changes over a run,
    // and both should meet the same.
    for (const factor of o.factors) {
      for (const [index, system] of systems.entries()) {
        const config = result.configs[index] as OverloadConfigResult;
        const run = await runRate(system, o, factor);
        config.runs.push(run);
        log(
          `  ${config.label}, ${factor}× = ${run.offered}/s: ok ${run.ok}/${run.sent} (${Math.round(run.goodput)}/s), shed ${run.shed}, 429 ${run.limited}, failed ${run.failed}; p50 ${run.p50?.toFixed(1)} ms, p99 ${run.p99?.toFixed(1)} ms, slowest refusal ${Math.round(run.maxRefusalMs)} ms, sent late p99 ${run.sendLateP99?.toFixed(1)} ms; recovered ${run.recoveryMs === null ? "not within the probes" : `${Math.round(run.recoveryMs)} ms after`}`,
        );
      }
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  failed: ${result.error}`);
  } finally {
    for (const system of systems) await system.close();
  }
  return result;
}

/** One configuration's broker, its routers and the generator's connections to it. */
interface System {
  target: OpenLoopTarget;
  /** p99 of the first (lowest) rate: the recovery probes' yardstick. */
  baselineP99: number | null;
  close(): Promise<void>;
}

async function startSystem(o: OverloadOptions, settings: Record<string, number>): Promise<System> {
  const peer = await startNodePeer("tether", undefined, settings);
  const port = peer.httpPort ?? 0;
  // Bound: MAX_SOCKETS connections, reused by every run against this broker.
  const pool = new RawHttpPool("127.0.0.1", port, MAX_SOCKETS);
  let routers: ChildProcess | null = null;
  const close = async () => {
    pool.close();
    if (routers) await stopRouters(routers);
    await peer.close();
  };
  try {
    const prefix = `ovl-${randomBytes(3).toString("hex")}`;
    routers = await startRouters(`mqtt://127.0.0.1:${peer.mqttPort}`, prefix, o.devices);
    const body = JSON.stringify({ name: "ping", timeoutMs: COMMAND_TIMEOUT_MS });
    const target: OpenLoopTarget = {
      pool,
      requests: Array.from({ length: o.devices }, (_, i) =>
        postRequest("127.0.0.1", port, `/v1/devices/${prefix}-${i}/commands`, BENCH_API_TOKEN, body),
      ),
      giveUpMs: COMMAND_TIMEOUT_MS + 5_000,
    };
    // Warm-up: the JIT and the connections, not measured.
    await openLoop(target, Math.round(o.knee / 2), 3).answered;
    return { target, baselineP99: null, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** One burst at `factor` × the knee, then the probes that time the recovery. */
async function runRate(system: System, o: OverloadOptions, factor: number): Promise<RateRun> {
  const offered = Math.round(o.knee * factor);
  const burst = openLoop(system.target, offered, o.seconds);
  await burst.sent;
  const probes = openLoop(system.target, PROBE_RATE, PROBE_SECONDS);
  const [samples, probeSamples] = await Promise.all([burst.answered, probes.answered]);
  const summary = summarize(factor, offered, o.seconds, samples);
  system.baselineP99 ??= summary.p99;
  const limitMs = Math.max(2 * (system.baselineP99 ?? 10), 10);
  return { ...summary, recoveryMs: recovery(probeSamples, limitMs) };
}
