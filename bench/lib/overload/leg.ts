import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { BENCH_API_TOKEN } from "../ipc.js";
import { startNodePeer } from "../peers/peers.js";
import { countBetween, cpuSeconds, p99Between, scrapeCommandSeconds } from "./instruments.js";
import { describeStep, findKnee, KNEE_RAMP, type KneeStep } from "./knee.js";
import { type OpenLoopTarget, openLoop, type Sample } from "./open-loop.js";
import { getRequest, postRequest, RawHttpPool } from "./raw-http.js";
import { dumpSamples, recovery, summarize } from "./samples.js";

export interface OverloadOptions {
  /** The sustainable rate (commands/s) the offered rates are multiples of; null = measure it (knee.ts). */
  knee: number | null;
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
  /** The failures by status ("0": no answer within the generator's wait, or the connection closed). */
  failedBy: Record<string, number>;
  /** ok per second of the run. */
  goodput: number;
  /** Latency of the 200s, from the scheduled send (ms). */
  p50: number | null;
  p99: number | null;
  /** p99 of the 200s sent from ONSET_MS (samples.ts) into the burst on: the steady state, without its onset. */
  p99Steady: number | null;
  /** Slowest answer of any kind, and slowest refusal (429/503), ms. */
  maxMs: number;
  maxRefusalMs: number;
  /** How late the generator itself sent requests (p99, ms): when high, the client, not the broker, fell behind. */
  sendLateP99: number | null;
  /** Refusals without a Retry-After header. */
  refusalsWithoutRetryAfter: number;
  /** ms after the burst until probes are as fast as before it; null = not within the probe window. */
  recoveryMs: number | null;
  /** Where the time went (issue 17): p99 of the wait for a free generator connection (ms). */
  poolWaitP99: number | null;
  /** Generator connections opened during the burst, slowest connect (ms), connects ≥ 1 s. */
  connectionsOpened: number;
  slowestConnectMs: number;
  slowConnects: number;
  /** The broker's own time (listener → response end), p99 bucket bound (ms), of the 200s and of the refusals. */
  brokerOkP99: number | null;
  brokerRefusedP99: number | null;
  /** The answered commands' queueing time (tether_command_queue_seconds), p50 and p99 bucket bounds (ms). */
  queueP50: number | null;
  queueP99: number | null;
  /** 429s of the standing-queue rule (tether_commands_queue_refused_total). */
  queueRefused: number;
  /** 503s by the rule that shed them (tether_commands_shed_total): adaptive limit, event-loop lag, fixed bound. */
  shedBy?: { latency: number; lag: number; inFlight: number };
  /** CPU used during the burst, in cores (1 = one core busy all the time): broker, routers, generator. */
  cpu: { broker: number; routers: number; generator: number };
  /** The generator's own event-loop delay during the burst and the answers (ms): it reads answers this late. */
  generatorLagP99: number;
  generatorLagMax: number;
  /** The slowest 1 % of all answers: mean ms the generator was late sending, waited for a connection, and the rest (on the wire, in the broker's buffers and in it). */
  slowest: { late: number; waited: number; rest: number };
}

export interface OverloadConfigResult {
  label: string;
  settings: Record<string, number>;
  runs: RateRun[];
}

export interface OverloadResult {
  options: OverloadOptions;
  /** The knee the rates were multiples of: given, or measured in the run (0 if that failed). */
  knee: number;
  /** The ramp that measured it, or null when it was given. */
  kneeSteps: KneeStep[] | null;
  configs: OverloadConfigResult[];
  error: string | null;
}

/**
 * `BENCH_OVERLOAD_SETTINGS='{"maxCommandsInFlight":256}'`: startBroker options (numbers) for the
 * first configuration, to try a bound before changing its default (docs/BENCHMARKS.md).
 */
function settingsFromEnv(): Record<string, number> {
  const text = process.env.BENCH_OVERLOAD_SETTINGS;
  if (!text) return {};
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error("BENCH_OVERLOAD_SETTINGS must be a JSON object of numbers");
  const entries = Object.entries(parsed);
  const numbers = entries.filter((e): e is [string, number] => typeof e[1] === "number");
  if (numbers.length !== entries.length)
    throw new Error("BENCH_OVERLOAD_SETTINGS must be a JSON object of numbers");
  return Object.fromEntries(numbers);
}

/** `BENCH_OVERLOAD_DEVICES=200`: answering routers (default 20; more routers, shorter queues per router). */
export function overloadDevices(): number {
  const devices = Number(process.env.BENCH_OVERLOAD_DEVICES ?? 20);
  if (!Number.isInteger(devices) || devices < 1 || devices > 10_000)
    throw new Error("BENCH_OVERLOAD_DEVICES must be a whole number from 1 to 10,000");
  return devices;
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

/**
 * The overload leg of `npm run bench` (issue 17): Tether's broker in its own process,
 * `devices` answering routers, open-loop commands through the broker API at each
 * multiple of the knee for `seconds`, then probes to time the recovery. With
 * `compare`, the same with admission control off.
 */
export async function overloadLeg(o: OverloadOptions, log: (line: string) => void): Promise<OverloadResult> {
  const configs: Array<{ label: string; settings: Record<string, number> }> = [
    { label: "admission control (defaults)", settings: settingsFromEnv() },
    ...(o.compare
      ? [
          {
            // Only the fixed per-device pending bound (16) is left: the broker before issue 17.
            label: "no admission control",
            settings: {
              maxEventLoopLagMs: 0,
              maxCommandsInFlight: 1_000_000,
              commandQueueTargetMs: 0,
              commandLatencyTolerance: 0,
            },
          },
        ]
      : []),
  ];
  const result: OverloadResult = { options: o, knee: o.knee ?? 0, kneeSteps: null, configs: [], error: null };
  const systems: System[] = [];
  try {
    for (const config of configs) {
      systems.push(await startSystem(o, config.settings));
      result.configs.push({ ...config, runs: [] });
    }
    if (o.knee === null) {
      // On the first configuration (admission control as configured): the rate it sustains.
      const first = systems[0] as System;
      const found = await findKnee(first.target, log);
      result.kneeSteps = found.steps;
      if (found.knee === null)
        throw new Error(`no knee: no step held (${found.steps.map(describeStep).join("; ")})`);
      result.knee = found.knee;
      log(`  knee: ${found.knee}/s`);
    }
    // Rate by rate, each configuration in turn: the machine's other load changes over a run,
    // and both should meet the same.
    for (const factor of o.factors) {
      for (const [index, system] of systems.entries()) {
        const config = result.configs[index] as OverloadConfigResult;
        const run = await runRate(system, o, result.knee, factor, index);
        config.runs.push(run);
        log(
          `  ${config.label}, ${factor}× = ${run.offered}/s: ok ${run.ok}/${run.sent} (${Math.round(run.goodput)}/s), shed ${run.shed} (latency ${run.shedBy?.latency ?? 0}, lag ${run.shedBy?.lag ?? 0}, in flight ${run.shedBy?.inFlight ?? 0}), 429 ${run.limited}, failed ${run.failed}${run.failed > 0 ? ` (by status ${JSON.stringify(run.failedBy)})` : ""}; p50 ${run.p50?.toFixed(1)} ms, p99 ${run.p99?.toFixed(1)} ms (from 1 s on ${run.p99Steady?.toFixed(1)} ms), slowest refusal ${Math.round(run.maxRefusalMs)} ms, sent late p99 ${run.sendLateP99?.toFixed(1)} ms, pool wait p99 ${run.poolWaitP99?.toFixed(1)} ms, opened ${run.connectionsOpened} (slowest ${Math.round(run.slowestConnectMs)} ms, ${run.slowConnects} ≥ 1 s), broker p99 ok ≤ ${run.brokerOkP99} ms refused ≤ ${run.brokerRefusedP99} ms, queueing p50 ≤ ${run.queueP50} p99 ≤ ${run.queueP99} ms (${run.queueRefused} refused for it), cpu broker ${run.cpu.broker.toFixed(2)} routers ${run.cpu.routers.toFixed(2)} generator ${run.cpu.generator.toFixed(2)}, generator lag p99 ${run.generatorLagP99.toFixed(0)} max ${run.generatorLagMax.toFixed(0)} ms, slowest 1 %: late ${run.slowest.late.toFixed(0)} waited ${run.slowest.waited.toFixed(0)} rest ${run.slowest.rest.toFixed(0)} ms; recovered ${run.recoveryMs === null ? "not within the probes" : `${Math.round(run.recoveryMs)} ms after`}`,
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
  brokerPid: number;
  routersPid: number;
  httpPort: number;
  /** p99 of the first (lowest) rate: the recovery probes' yardstick. */
  baselineP99: number | null;
  close(): Promise<void>;
}

async function startSystem(o: OverloadOptions, settings: Record<string, number>): Promise<System> {
  // The broker configured for the generator's 2,048 connections, as an operator would for a
  // fleet of callers that large: with the default bound (HTTP_MAX_IDLE_CONNECTIONS, 1,000 idle
  // ones of the edge's class) it closed the idle longest of them all through a burst, and the
  // generator re-opened them (2,554 at 4×, 787 requests lost on closing connections: the race
  // the bound trades memory against; docs/BENCHMARKS.md, "Overload: the limit's onset…").
  const keepAll = { httpMaxIdleConnections: 2 * MAX_SOCKETS };
  const peer = await startNodePeer("tether", undefined, { ...keepAll, ...settings });
  const port = peer.httpPort ?? 0;
  // Bound: MAX_SOCKETS connections, reused by every run against this broker.
  // Each new connection carries a first request before a burst can pick it (raw-http.ts, #warm).
  const warm = getRequest("127.0.0.1", port, "/healthz", BENCH_API_TOKEN);
  const pool = new RawHttpPool("127.0.0.1", port, MAX_SOCKETS, warm);
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
    await openLoop(target, Math.round((o.knee ?? KNEE_RAMP.from) / 2), 3).answered;
    return {
      target,
      brokerPid: peer.pid,
      routersPid: routers.pid ?? -1,
      httpPort: port,
      baselineP99: null,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** One burst at `factor` × the knee, then the probes that time the recovery. */
async function runRate(
  system: System,
  o: OverloadOptions,
  knee: number,
  factor: number,
  config: number,
): Promise<RateRun> {
  const offered = Math.round(knee * factor);
  await system.target.pool.fill();
  const histogramBefore = await scrapeCommandSeconds(system.httpPort);
  system.target.pool.takeStats();
  const cpuBefore = {
    broker: cpuSeconds(system.brokerPid),
    routers: cpuSeconds(system.routersPid),
    generator: process.cpuUsage(),
  };
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const started = performance.now();
  const burst = openLoop(system.target, offered, o.seconds);
  await burst.sent;
  const elapsed = (performance.now() - started) / 1000;
  const cpu = {
    broker: (cpuSeconds(system.brokerPid) - cpuBefore.broker) / elapsed,
    routers: (cpuSeconds(system.routersPid) - cpuBefore.routers) / elapsed,
    generator: (() => {
      const used = process.cpuUsage(cpuBefore.generator);
      return (used.user + used.system) / 1e6 / elapsed;
    })(),
  };
  const pool = system.target.pool.takeStats();
  const probes = openLoop(system.target, PROBE_RATE, PROBE_SECONDS);
  const [samples, probeSamples] = await Promise.all([burst.answered, probes.answered]);
  lag.disable();
  const histogramAfter = await scrapeCommandSeconds(system.httpPort);
  const slowest = [...samples]
    .sort((a, b) => b.latencyMs - a.latencyMs)
    .slice(0, Math.max(1, samples.length / 100));
  const mean = (pick: (s: Sample) => number) => slowest.reduce((sum, s) => sum + pick(s), 0) / slowest.length;
  const summary = summarize(factor, offered, o.seconds, samples);
  dumpSamples(factor, samples, config);
  system.baselineP99 ??= summary.p99;
  const limitMs = Math.max(2 * (system.baselineP99 ?? 10), 10);
  return {
    ...summary,
    recoveryMs: recovery(probeSamples, limitMs),
    connectionsOpened: pool.opened,
    slowestConnectMs: pool.slowestConnectMs,
    slowConnects: pool.slowConnects,
    brokerOkP99: p99Between(histogramBefore, histogramAfter, "ok"),
    brokerRefusedP99: p99Between(histogramBefore, histogramAfter, "refused"),
    queueP50: p99Between(histogramBefore, histogramAfter, "queue", 0.5),
    queueP99: p99Between(histogramBefore, histogramAfter, "queue"),
    queueRefused: countBetween(histogramBefore, histogramAfter, "queue_refused"),
    shedBy: {
      latency: countBetween(histogramBefore, histogramAfter, "shed_latency"),
      lag: countBetween(histogramBefore, histogramAfter, "shed_event_loop_lag"),
      inFlight: countBetween(histogramBefore, histogramAfter, "shed_in_flight"),
    },
    cpu,
    generatorLagP99: lag.percentile(99) / 1e6,
    generatorLagMax: lag.max / 1e6,
    slowest: {
      late: mean((s) => s.lateMs),
      waited: mean((s) => s.waitedMs),
      rest: mean((s) => s.latencyMs - s.lateMs - s.waitedMs),
    },
  };
}
