import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { unstable_startWorker } from "wrangler";
import { BENCH_API_TOKEN } from "../ipc.js";
import { startRouters, stopRouters } from "../overload/leg.js";
import { openLoop, type Sample } from "../overload/open-loop.js";
import { postRequest, RawHttpPool } from "../overload/raw-http.js";
import { startNodePeer } from "../peers/peers.js";
import { cpuTicks, workerdPids } from "../proc.js";

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
  /** CPU per request sent (µs, user + system) of: the bench's process (wrangler's controller and the generator), all workerd, the broker, the routers' process. */
  cpuUs: { bench: number; workerd: number; broker: number; routers: number };
  /** 1-min load average when the rate started. */
  load: number;
}

export interface EdgeKneeSetting {
  label: string;
  inspector: boolean;
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
  o: { rates: number[]; seconds: number; devices: number; inspector: boolean[] },
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
    for (const inspector of o.inspector) {
      const setting: EdgeKneeSetting = {
        label: inspector ? "inspector on (as `wrangler dev`)" : "inspector off",
        inspector,
        runs: [],
        knee: null,
      };
      result.settings.push(setting);
      log(`  edge with ${setting.label}`);
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
  const plain = (value: string) => ({ type: "plain_text" as const, value });
  let routers: Awaited<ReturnType<typeof startRouters>> | null = null;
  let worker: Awaited<ReturnType<typeof unstable_startWorker>> | null = null;
  let pool: RawHttpPool | null = null;
  try {
    const prefix = `knee-${randomBytes(3).toString("hex")}`;
    routers = await startRouters(`mqtt://127.0.0.1:${broker.mqttPort}`, prefix, o.devices);
    worker = await unstable_startWorker({
      config: "wrangler.toml",
      bindings: {
        TETHER_ENV: plain("development"),
        RAILS_API_TOKEN: plain(RAILS_TOKEN),
        CLIENT_JWT_SECRET: plain(randomBytes(16).toString("hex")),
        BROKER_API_TOKEN: plain(BENCH_API_TOKEN),
        EDGE_EVENTS_SECRET: plain(randomBytes(16).toString("hex")),
        BROKER_URL: plain(`http://127.0.0.1:${broker.httpPort}`),
      },
      dev: {
        ...(setting.inspector ? {} : { inspector: false as const }),
        server: { hostname: "127.0.0.1", port: 0 },
        persist: false,
        logLevel: "warn",
      },
    });
    await worker.ready;
    const url = new URL((await worker.url).toString());
    const port = Number(url.port);
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
      workerd: workerdPids(),
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
        { bench: per("bench"), workerd: per("workerd"), broker: per("broker"), routers: per("routers") },
        load,
      );
      setting.runs.push(run);
      log(
        `    ${rate}/s: ok ${run.ok}/${run.sent}, refused ${run.refused}, failed ${run.failed}; p50 ${run.p50?.toFixed(1)} ms, p99 ${run.p99?.toFixed(1)} ms, sent late p99 ${run.sendLateP99?.toFixed(1)} ms; CPU µs/request: bench ${Math.round(run.cpuUs.bench)}, workerd ${Math.round(run.cpuUs.workerd)} (${each.join(" + ")}), broker ${Math.round(run.cpuUs.broker)}, routers ${Math.round(run.cpuUs.routers)}; load ${load}`,
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
    await worker?.dispose();
    await broker.close();
  }
}
