import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";
import { freePort } from "../../../scripts/lib/ports.js";
import { httpProbe, type ManagedProcess, waitUntilReady } from "../../../scripts/lib/processes.js";
import { spawnEdge } from "../../../scripts/lib/system.js";
import { BENCH_API_TOKEN } from "../ipc.js";
import { startRouters, stopRouters } from "../overload/leg.js";
import { openLoop, type Sample } from "../overload/open-loop.js";
import { postRequest, RawHttpPool } from "../overload/raw-http.js";
import { startNodePeer } from "../peers/peers.js";
import { cpuTicks, groupPids, workerdPids } from "../proc.js";

/** The knee's test, as the broker's was found (issue 14 item 3): p99 of the 200s within this, nothing else. */
export const KNEE_P99_MS = 50;
/** A setting stops climbing after a rate with a failure or a p99 above this (ms): it has collapsed. */
const COLLAPSE_P99_MS = 1_000;
/** Each command's `timeoutMs`; the generator gives up 5 s after it. */
const COMMAND_TIMEOUT_MS = 5_000;
/** Connections the simulated Rails fleet holds to the edge at most. */
const MAX_SOCKETS = 512;
/** Rails' token for this leg's edge. */
const RAILS_TOKEN = `bench-rails-${randomBytes(12).toString("hex")}`;

export interface EdgeKneeRun {
  rate: number;
  sent: number;
  ok: number;
  /** 429/503 (the broker's admission control, passed through). */
  refused: number;
  /** Other statuses and no answer. */
  failed: number;
  p50: number | null;
  p99: number | null;
  /** p99 of how late the generator itself sent (ms). */
  sendLateP99: number | null;
  /**
   * CPU per request sent (µs, user + system) of: the bench's process (the generator, and
   * wrangler's controller when in process), wrangler's own Node process (and its esbuild)
   * when the edge is spawned as `npm start` spawns it, all workerd, the broker, the routers' process.
   */
  cpuUs: { bench: number; wrangler: number; workerd: number; broker: number; routers: number };
  /** 1-min load average when the rate started. */
  load: number;
}

/**
 * How the edge is started: `in-process` = wrangler's `unstable_startWorker` in the bench's
 * process; `npm-start` = `spawnEdge` as `npm start` and the soak run it, in its own process
 * group (inspector off: scripts/edge-dev.ts; on: `wrangler dev`, as npm start did before issue 14).
 */
export type EdgeVia = "in-process" | "npm-start";

export interface EdgeKneeSpec {
  via: EdgeVia;
  inspector: boolean;
}

/** `--edge-settings` names. */
export const EDGE_SETTINGS: Record<string, EdgeKneeSpec> = {
  off: { via: "in-process", inspector: false },
  on: { via: "in-process", inspector: true },
  "npm-start": { via: "npm-start", inspector: false },
  "wrangler-dev": { via: "npm-start", inspector: true },
};

export interface EdgeKneeSetting extends EdgeKneeSpec {
  label: string;
  /** From launch until the edge's /healthz answered (ms). */
  startMs: number;
  /** CPU seconds the spawned edge's processes spent until then (null in process: shared with the bench). */
  startCpuS: number | null;
  runs: EdgeKneeRun[];
  /** Highest rate that met the test; null = none did. */
  knee: number | null;
}

export interface EdgeKneeResult {
  rates: number[];
  seconds: number;
  devices: number;
  settings: EdgeKneeSetting[];
  error: string | null;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null);

export const meetsKnee = (run: EdgeKneeRun) =>
  run.ok === run.sent && run.p99 !== null && run.p99 <= KNEE_P99_MS;

function summarize(rate: number, samples: Sample[], cpuUs: EdgeKneeRun["cpuUs"], load: number): EdgeKneeRun {
  const ok = samples.filter((s) => s.status === 200);
  const refused = samples.filter((s) => s.status === 429 || s.status === 503).length;
  const latencies = ok.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    rate,
    sent: samples.length,
    ok: ok.length,
    refused,
    failed: samples.length - ok.length - refused,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    sendLateP99: percentile(
      samples.map((s) => s.lateMs).sort((a, b) => a - b),
      0.99,
    ),
    cpuUs,
    load,
  };
}

/**
 * The edge's command throughput knee (issue 14 item 3, issue 17 item 3): Tether's broker
 * in its own process (defaults), `devices` answering routers in another, the edge on local
 * workerd from wrangler.toml through wrangler's `unstable_startWorker` in the bench's
 * process, and the overload leg's lean open-loop generator sending Rails' command route
 * at each rate for `seconds`. Once with wrangler's inspector off, once on (as `wrangler
 * dev` and `npm start` run it). A setting stops climbing once a rate fails or collapses.
 */
export async function edgeKneeLeg(
  o: { rates: number[]; seconds: number; devices: number; settings: EdgeKneeSpec[] },
  log: (line: string) => void,
): Promise<EdgeKneeResult> {
  const result: EdgeKneeResult = {
    rates: o.rates,
    seconds: o.seconds,
    devices: o.devices,
    settings: [],
    error: null,
  };
  try {
    for (const spec of o.settings) {
      const setting: EdgeKneeSetting = {
        ...spec,
        label: label(spec),
        startMs: 0,
        startCpuS: null,
        runs: [],
        knee: null,
      };
      result.settings.push(setting);
      log(`  edge: ${setting.label}`);
      await measureSetting(o, setting, log);
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  failed: ${result.error}`);
  }
  return result;
}

async function measureSetting(
  o: { rates: number[]; seconds: number; devices: number },
  setting: EdgeKneeSetting,
  log: (line: string) => void,
): Promise<void> {
  const broker = await startNodePeer("tether");
  let routers: Awaited<ReturnType<typeof startRouters>> | null = null;
  let edge: {
    port: number;
    wranglerPids: () => number[];
    workerdPids: () => number[];
    cpuSeconds: () => number | null;
    stop(): Promise<void>;
  } | null = null;
  let pool: RawHttpPool | null = null;
  try {
    const prefix = `knee-${randomBytes(3).toString("hex")}`;
    routers = await startRouters(`mqtt://127.0.0.1:${broker.mqttPort}`, prefix, o.devices);
    const secrets = {
      RAILS_API_TOKEN: RAILS_TOKEN,
      CLIENT_JWT_SECRET: randomBytes(16).toString("hex"),
      BROKER_API_TOKEN: BENCH_API_TOKEN,
      EDGE_EVENTS_SECRET: randomBytes(16).toString("hex"),
    };
    const started = performance.now();
    edge =
      setting.via === "npm-start"
        ? await spawnedEdge(`http://127.0.0.1:${broker.httpPort}`, secrets, setting.inspector)
        : await inProcessEdge(`http://127.0.0.1:${broker.httpPort}`, secrets, setting.inspector);
    setting.startMs = performance.now() - started;
    const up = edge;
    setting.startCpuS = up.cpuSeconds();
    log(
      `    edge up in ${(setting.startMs / 1000).toFixed(1)} s${setting.startCpuS === null ? "" : `, ${setting.startCpuS.toFixed(1)} s of CPU`}`,
    );
    const port = up.port;
    // Bound: MAX_SOCKETS keep-alive connections, reused by every rate.
    pool = new RawHttpPool("127.0.0.1", port, MAX_SOCKETS);
    const body = JSON.stringify({ name: "ping", timeoutMs: COMMAND_TIMEOUT_MS });
    const target = {
      pool,
      requests: Array.from({ length: o.devices }, (_, i) =>
        postRequest("127.0.0.1", port, `/v1/devices/${prefix}-${i}/commands`, RAILS_TOKEN, body),
      ),
      giveUpMs: COMMAND_TIMEOUT_MS + 5_000,
    };
    // Warm-up: the JIT, the isolates, every device's Durable Object, the connections; not measured.
    await openLoop(target, 50, 3).answered;
    const pids = () => ({
      bench: [process.pid],
      wrangler: edge?.wranglerPids() ?? [],
      workerd: edge?.workerdPids() ?? [],
      broker: [broker.pid],
      routers: [routers?.pid ?? -1],
    });
    for (const rate of o.rates) {
      const watched = pids();
      const ticks = () =>
        Object.fromEntries(
          Object.entries(watched).map(([k, list]) => [k, list.reduce((sum, pid) => sum + cpuTicks(pid), 0)]),
        ) as Record<keyof EdgeKneeRun["cpuUs"], number>;
      const load = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
      const before = ticks();
      const eachBefore = watched.workerd.map(cpuTicks);
      const samples = await openLoop(target, rate, o.seconds).answered;
      const after = ticks();
      const each = watched.workerd.map((pid, i) =>
        Math.round(((cpuTicks(pid) - (eachBefore[i] ?? 0)) * 10_000) / samples.length),
      );
      const per = (k: keyof EdgeKneeRun["cpuUs"]) => ((after[k] - before[k]) * 10_000) / samples.length;
      const run = summarize(
        rate,
        samples,
        {
          bench: per("bench"),
          wrangler: per("wrangler"),
          workerd: per("workerd"),
          broker: per("broker"),
          routers: per("routers"),
        },
        load,
      );
      setting.runs.push(run);
      log(
        `    ${rate}/s: ok ${run.ok}/${run.sent}, refused ${run.refused}, failed ${run.failed}; p50 ${run.p50?.toFixed(1)} ms, p99 ${run.p99?.toFixed(1)} ms, sent late p99 ${run.sendLateP99?.toFixed(1)} ms; CPU µs/request: bench ${Math.round(run.cpuUs.bench)}, wrangler ${Math.round(run.cpuUs.wrangler)}, workerd ${Math.round(run.cpuUs.workerd)} (${each.join(" + ")}), broker ${Math.round(run.cpuUs.broker)}, routers ${Math.round(run.cpuUs.routers)}; load ${load}`,
      );
      if (meetsKnee(run)) setting.knee = rate;
      // Past collapse nothing more is learnt (and its backlog would meet the next rate).
      if (run.failed > 0 || (run.p99 ?? Number.POSITIVE_INFINITY) > COLLAPSE_P99_MS) break;
      // A pause between rates, so one rate's stragglers do not meet the next.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    pool?.close();
    if (routers) await stopRouters(routers);
    await edge?.stop();
    await broker.close();
  }
}

function label(spec: EdgeKneeSpec): string {
  if (spec.via === "in-process") return spec.inspector ? "inspector on (as `wrangler dev`)" : "inspector off";
  return spec.inspector
    ? "`npm start -- --inspector`: `wrangler dev`, inspector on (npm start before issue 14)"
    : "`npm start`: scripts/edge-dev.ts, inspector off";
}

type EdgeSecrets = Parameters<typeof spawnEdge>[0]["secrets"];

/** The edge on wrangler's `unstable_startWorker` in this process (wrangler's controller is ours). */
async function inProcessEdge(brokerHttp: string, secrets: EdgeSecrets, inspector: boolean) {
  const plain = (value: string) => ({ type: "plain_text" as const, value });
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      TETHER_ENV: plain("development"),
      ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, plain(v)])),
      BROKER_URL: plain(brokerHttp),
    },
    dev: {
      ...(inspector ? {} : { inspector: false as const }),
      server: { hostname: "127.0.0.1", port: 0 },
      persist: false,
      logLevel: "warn",
    },
  });
  try {
    await worker.ready;
  } catch (error) {
    await worker.dispose();
    throw error;
  }
  return {
    port: Number(new URL((await worker.url).toString()).port),
    wranglerPids: () => [],
    workerdPids: () => workerdPids(),
    cpuSeconds: () => null,
    stop: () => worker.dispose(),
  };
}

/** The edge as `npm start` starts it: `spawnEdge`, its own process group, ready at /healthz. */
async function spawnedEdge(brokerHttp: string, secrets: EdgeSecrets, inspector: boolean) {
  const stateDir = await mkdtemp(join(tmpdir(), "tether-bench-edge-"));
  const port = await freePort();
  let managed: ManagedProcess | null = null;
  const stop = async () => {
    await managed?.stop();
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    managed = await spawnEdge({
      host: "127.0.0.1",
      port,
      brokerHttp,
      secrets,
      stateDir,
      output: null,
      inspector,
    });
    await waitUntilReady({
      what: "edge",
      probe: httpProbe(`http://127.0.0.1:${port}/healthz`),
      process: managed,
      timeoutMs: 90_000,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const group = () => groupPids(managed?.child.pid ?? -1);
  return {
    port,
    wranglerPids: () =>
      group()
        .filter((p) => p.comm !== "workerd")
        .map((p) => p.pid),
    workerdPids: () =>
      group()
        .filter((p) => p.comm === "workerd")
        .map((p) => p.pid),
    // Live processes only: wrangler dev's bin/wrangler.js and its cli.js child both stay up.
    cpuSeconds: () => group().reduce((sum, p) => sum + cpuTicks(p.pid), 0) / 100,
    stop,
  };
}
