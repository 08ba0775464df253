/**
 * `npm run soak`: the old system's workload and worse, against Tether's broker in
 * its own process; see `npm run soak -- --help` and docs/MEMORY.md.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { writeBenchmarksSection } from "../bench/lib/peers/docs-section.js";
import { startSimulation } from "../device-sdk/src/simulator/simulation.js";
import {
  fitLine,
  footprintTable,
  formatBytes,
  heapPoints,
  type LinearFit,
  liveHeapPoints,
  liveRssPoints,
  percentile,
  rssPoints,
  type SlopeVerdict,
  slopeVerdict,
} from "./analysis.js";
import { HELP, parseSoakArgs, type SoakOptions } from "./args.js";
import { BrokerProcess } from "./broker-process.js";
import { startEdgeClients, type WsTally } from "./edge-clients.js";
import { type EventTally, startEventsSink } from "./events-sink.js";
import { InspectorGc } from "./inspector-gc.js";
import { type CommandTally, emptyTally, failed, startRails, succeeded } from "./rails.js";
import { describeFit, footprintMarkdown, footprintText, kbps } from "./report.js";
import { MemorySampler, type Sample } from "./sampler.js";
import { memoryChart } from "./svg.js";

const log = (line: string) => process.stderr.write(`${line}\n`);
const clockText = (seconds: number) =>
  `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;

function progressLine(
  s: Sample,
  sim: ReturnType<typeof startSimulation>,
  tally: CommandTally,
  ws: WsTally | null,
): string {
  const st = sim.stats();
  const heap = s.heapUsed === null ? "?" : formatBytes(s.heapUsed);
  return [
    `[${clockText(s.t)}]`,
    `routers ${st.connected}/${st.routers} online`,
    `broker clients ${s.clients ?? "?"} sessions ${s.persistentSessions ?? "?"} pending ${s.pendingCommands ?? "?"}`,
    `commands ${succeeded(tally)} ok, ${failed(tally)} failed`,
    ...(ws ? [`ws ${ws.open - ws.closes} open, ${ws.frames} frames`] : []),
    `RSS ${formatBytes(s.rss)} heap ${heap}`,
  ].join(" | ");
}

interface Run {
  options: SoakOptions;
  samples: Sample[];
  tally: CommandTally;
  events: EventTally | null;
  ws: WsTally | null;
  sim: ReturnType<ReturnType<typeof startSimulation>["stats"]>;
  source: string;
  brokerExit: number | null;
  interrupted: boolean;
  /** Once the fleet and Rails stopped: counts must be back to zero. */
  afterFleet: Sample | null;
  gcFailures: number;
}

async function soak(options: SoakOptions): Promise<Run> {
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const deviceSecret = randomBytes(24).toString("base64url");
  const apiToken = randomBytes(24).toString("base64url");
  const eventsSecret = options.edge?.eventsSecret ?? randomBytes(24).toString("base64url");
  const sink = options.edge ? null : await startEventsSink(eventsSecret);
  const broker = await BrokerProcess.start(
    {
      DEVICE_SECRET: deviceSecret,
      BROKER_API_TOKEN: apiToken,
      HOST: "127.0.0.1",
      MQTT_PORT: String(options.mqttPort),
      HTTP_PORT: String(options.httpPort),
      SESSION_EXPIRY_SECONDS: String(options.sessionExpirySeconds),
      EDGE_EVENTS_URL: options.edge ? `${options.edge.url}/internal/events` : (sink?.url ?? ""),
      EDGE_EVENTS_SECRET: eventsSecret,
      LOG_LEVEL: options.brokerLogLevel,
      MEMORY_LOG_INTERVAL_SECONDS: "60",
      HEAP_SNAPSHOT_DIR: join(out, "heap"),
    },
    join(out, "broker.log"),
    { inspect: options.gcEveryMs > 0 },
  );
  const startedAt = performance.now();
  log(`broker pid ${broker.pid}: ${broker.mqttUrl}, ${broker.httpUrl} (log: ${join(out, "broker.log")})`);
  let inspector: InspectorGc | null = null;
  if (broker.inspectorUrl) {
    inspector = await InspectorGc.connect(broker.inspectorUrl).catch((error: unknown) => {
      log(
        `no forced GC (inspector: ${error instanceof Error ? error.message : String(error)}): fitting raw RSS`,
      );
      return null;
    });
  }
  const sampler = new MemorySampler(
    broker,
    apiToken,
    startedAt,
    inspector ? { inspector, everyMs: options.gcEveryMs } : null,
  );
  const samples: Sample[] = [await sampler.sample()];

  const sim = startSimulation({
    routers: options.routers,
    brokerUrl: broker.mqttUrl,
    deviceSecret,
    idPrefix: "soak-",
    keepalive: options.keepalive,
    eventIntervalMs: options.eventIntervalMs,
    stateIntervalMs: options.stateIntervalMs,
    churn: options.churn,
    rampMs: Math.min(10_000, options.durationMs / 10),
  });
  const tally = emptyTally();
  const rails = options.edge
    ? { url: options.edge.url, token: options.edge.railsToken }
    : { url: broker.httpUrl, token: apiToken };
  const stopRails = startRails(rails, () => sim.routerIds(), options.commandRate, options.queuedShare, tally);
  const ws: WsTally | null = options.edge?.clientJwtSecret
    ? { open: 0, frames: 0, closes: 0, errors: 0 }
    : null;
  const stopWs =
    ws && options.edge?.clientJwtSecret
      ? startEdgeClients(
          options.edge.url,
          options.edge.clientJwtSecret,
          sim.routerIds(),
          options.edge.wsClients,
          ws,
        )
      : () => {};

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    log("\ninterrupted: stopping and reporting what was measured");
  };
  process.once("SIGINT", onSignal);
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  const endAt = startedAt + options.durationMs;
  while (!interrupted && performance.now() < endAt && !broker.exited) {
    await sleep(Math.min(options.sampleIntervalMs, Math.max(0, endAt - performance.now())));
    if (broker.exited) break;
    // The run's last sample always has live readings, so the end of the table has them.
    const sample = await sampler.sample({ forceGc: performance.now() >= endAt });
    samples.push(sample);
    const line = progressLine(sample, sim, tally, ws);
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (sample.t - lastPlain >= 30 || performance.now() >= endAt) {
      lastPlain = sample.t;
      log(line);
    }
  }
  if (tty) process.stderr.write("\n");
  process.off("SIGINT", onSignal);

  stopWs();
  await stopRails();
  const simStats = sim.stats();
  await sim.stop();
  // A last look once the fleet is gone: every client and pending command must be released.
  await sleep(2_000);
  let afterFleet: Sample | null = null;
  if (!broker.exited) {
    afterFleet = await sampler.sample({ forceGc: true });
    log(
      `after the fleet stopped: clients ${afterFleet.clients ?? "?"}, pending ${afterFleet.pendingCommands ?? "?"}, ` +
        `forwarder queue ${afterFleet.forwarderQueue ?? "?"}, RSS ${formatBytes(afterFleet.rss)}` +
        (afterFleet.liveHeap === null ? "" : `, heap after GC ${formatBytes(afterFleet.liveHeap)}`),
    );
  }
  inspector?.close();
  const wasRunning = !broker.exited;
  const brokerExit = await broker.stop();
  await sink?.close();
  return {
    options,
    samples,
    tally,
    events: sink?.tally ?? null,
    ws,
    sim: simStats,
    source: sampler.sourceName,
    brokerExit: wasRunning ? brokerExit : -1,
    interrupted,
    afterFleet,
    gcFailures: sampler.gcFailures,
  };
}

/** Exit codes: 0 flat, 1 a leak the data show (or the broker died), 3 too noisy or short to tell. */
const VERDICT_EXIT: Record<SlopeVerdict, number> = { pass: 0, leak: 1, inconclusive: 3 };

function verdictLine(
  verdict: SlopeVerdict,
  gateName: string,
  fit: LinearFit | null,
  limit: number,
  brokerExit: number | null,
): string {
  if (brokerExit !== 0) return `FAIL: broker exited with ${brokerExit}`;
  if (fit === null) return `INCONCLUSIVE: too few ${gateName} samples after the warm-up to fit a slope`;
  const slope = fit.slope / 1024;
  const margin = (2 * fit.slopeStdError) / 1024;
  const range = `${slope.toFixed(3)} ± ${margin.toFixed(3)} KB/s (≈95 %)`;
  if (verdict === "pass") return `PASS: ${gateName} slope ${range}, ≤ limit ${limit} KB/s`;
  if (verdict === "leak")
    return `FAIL: ${gateName} slope ${range} is above the limit ${limit} KB/s: memory grows`;
  return (
    `INCONCLUSIVE: ${gateName} slope ${range} — the limit ${limit} KB/s lies inside that interval; ` +
    "run longer (--duration) or force GC more often (--gc-every) to tell flat from growing"
  );
}

function report(run: Run, command: string): number {
  const { options, samples, tally } = run;
  const warmupSeconds = options.warmupMs / 1000;
  const rssFit = fitLine(rssPoints(samples), warmupSeconds);
  const heapFit = fitLine(heapPoints(samples), warmupSeconds);
  const liveRssFit = fitLine(liveRssPoints(samples), warmupSeconds);
  const liveHeapFit = fitLine(liveHeapPoints(samples), warmupSeconds);
  // Live (post-GC) RSS when we have it: the raw sawtooth of garbage is noise for a slope this small.
  const gateFit = liveRssFit ?? rssFit;
  const gateName = liveRssFit ? "RSS after full GC" : "RSS";
  const columns = footprintTable(samples, gateFit, options.sampleIntervalMs / 1000);
  const slopeKbps = kbps(gateFit);
  const verdict: SlopeVerdict = run.brokerExit === 0 ? slopeVerdict(gateFit, options.maxSlopeKbps) : "leak";
  const pass = verdict === "pass";
  const p50 = percentile(tally.rtts, 50);
  const p99 = percentile(tally.rtts, 99);

  const out = resolve(options.out);
  const jsonPath = join(out, "soak.json");
  const svgPath = join(out, "soak.svg");
  const duration = samples.at(-1)?.t ?? 0;
  const title = `Tether broker memory: ${options.routers} routers with churn, ${Math.round(duration / 60)} min`;
  const subtitle =
    `${gateName} slope after warm-up ${slopeKbps.toFixed(3)} KB/s (limit ${options.maxSlopeKbps}); ` +
    `${succeeded(tally)} commands ok`;
  writeFileSync(
    svgPath,
    memoryChart(samples, gateFit, warmupSeconds, { title, subtitle, fitLabel: `${gateName} fit` }),
  );
  const { rtts: _rtts, ...commands } = tally;
  writeFileSync(
    jsonPath,
    `${JSON.stringify(
      {
        command,
        machine: { cpus: cpus().length, node: process.version },
        options: { ...options, edge: options.edge ? { url: options.edge.url } : null },
        pass,
        verdict,
        interrupted: run.interrupted,
        brokerExitCode: run.brokerExit,
        memorySource: run.source,
        fit: {
          gated: gateName,
          slopeKbps,
          maxSlopeKbps: options.maxSlopeKbps,
          rss: rssFit,
          heap: heapFit,
          liveRss: liveRssFit,
          liveHeap: liveHeapFit,
        },
        afterFleetStopped: run.afterFleet,
        forcedGcFailures: run.gcFailures,
        table: columns,
        commands: { ...commands, rttP50Ms: p50, rttP99Ms: p99 },
        events: run.events,
        websocket: run.ws,
        simulator: run.sim,
        samples,
      },
      null,
      2,
    )}\n`,
  );

  const lines = [
    "",
    footprintText(columns),
    "",
    describeFit("RSS", rssFit),
    describeFit("heap", heapFit),
    describeFit("RSS after full GC", liveRssFit),
    describeFit("heap after full GC", liveHeapFit),
    `commands: ${tally.ok} ok, ${tally.failedByDevice} failed on the device, ${tally.queued} queued, ` +
      `${tally.offline} offline (409), ${tally.timeout} timeout (504), ${tally.rateLimited} rate limited, ` +
      `${tally.errors} errors${tally.lastError ? ` (last: ${tally.lastError})` : ""}; ` +
      `RTT p50 ${p50?.toFixed(1) ?? "–"} ms, p99 ${p99?.toFixed(1) ?? "–"} ms`,
    `churn applied: ${JSON.stringify(run.sim.churn)}; simulator errors ${run.sim.errors}`,
    ...(run.events
      ? [
          `events forwarded: ${JSON.stringify(run.events.byType)}; presence ${JSON.stringify(run.events.presence)}`,
        ]
      : []),
    ...(run.ws ? [`websocket clients: ${JSON.stringify(run.ws)}`] : []),
    `memory source: VmRSS from /proc, heap and counts from ${run.source}; broker exit code ${run.brokerExit}`,
    `wrote ${svgPath} and ${jsonPath}`,
    verdictLine(verdict, gateName, gateFit, options.maxSlopeKbps, run.brokerExit),
  ];
  console.log(lines.join("\n"));

  if (process.env.SOAK_WRITE_DOCS === "1") {
    const docs = fileURLToPath(new URL("../docs/", import.meta.url));
    copyFileSync(svgPath, join(docs, "soak.svg"));
    copyFileSync(jsonPath, join(docs, "soak.json"));
    const fits = { gateName, rssFit, heapFit, liveRssFit, liveHeapFit };
    writeBenchmarksSection("Soak", soakSection(run, command, columns, fits, p50, p99, verdict));
    log("wrote docs/soak.svg, docs/soak.json and the Soak section of docs/BENCHMARKS.md");
  }
  return VERDICT_EXIT[verdict];
}

function soakSection(
  run: Run,
  command: string,
  columns: ReturnType<typeof footprintTable>,
  fits: Record<"rssFit" | "heapFit" | "liveRssFit" | "liveHeapFit", LinearFit | null> & { gateName: string },
  p50: number | null,
  p99: number | null,
  verdict: SlopeVerdict,
): string {
  const { options, tally } = run;
  return [
    `Command: \`${command}\` (machine: ${cpus().length} cores, Node ${process.version}; the broker in its own`,
    "process, the routers and the simulated Rails in the soak's process).",
    "",
    `Workload: ${options.routers} routers (keepalive ${options.keepalive} s, heartbeat event every`,
    `${options.eventIntervalMs / 1000} s, state every ${options.stateIntervalMs / 1000} s), churn per minute \`${options.churnSpec}\``,
    `(applied: ${JSON.stringify(run.sim.churn)}), SESSION_EXPIRY_SECONDS=${options.sessionExpirySeconds},`,
    `${options.commandRate} commands/s (${Math.round(options.queuedShare * 100)}% queued), events forwarded to a local signed sink.`,
    "",
    footprintMarkdown(columns),
    "",
    `- Gate: ${describeFit(fits.gateName, fits.gateName === "RSS" ? fits.rssFit : fits.liveRssFit)}; limit ${options.maxSlopeKbps} KB/s → **${verdict}**.`,
    `- ${describeFit("Heap after full GC", fits.liveHeapFit)}.`,
    `- Raw (no forced GC): ${describeFit("RSS", fits.rssFit)}; ${describeFit("heap", fits.heapFit)}.`,
    ...(run.afterFleet
      ? [
          `- After the fleet and Rails stopped: clients ${run.afterFleet.clients}, pending commands ${run.afterFleet.pendingCommands},`,
          `  forwarder queue ${run.afterFleet.forwarderQueue}, persistent sessions ${run.afterFleet.persistentSessions} (they expire after ${options.sessionExpirySeconds} s).`,
        ]
      : []),
    `- Commands: ${tally.ok} ok, ${tally.queued} queued, ${tally.offline} offline (409), ${tally.timeout} timeouts,`,
    `  ${tally.errors} errors; RTT p50 ${p50?.toFixed(1) ?? "–"} ms, p99 ${p99?.toFixed(1) ?? "–"} ms.`,
    ...(run.events
      ? [
          `- Presence events seen by the sink: ${JSON.stringify(run.events.presence)} — \`session_expired\` are the`,
          "  vanished routers' sessions, reaped during the run.",
        ]
      : []),
    "",
    "![Broker memory during the soak](soak.svg) — data: [soak.json](soak.json).",
    "",
    "The 30 h column extrapolates from the end of the run at the fitted slope; the old system's row is",
    "linear between its reported 73 MB at start and 3.47 GB after 30 h (≈ 32 KB/s).",
  ].join("\n");
}

async function main(): Promise<number> {
  let options: SoakOptions | "help";
  try {
    options = parseSoakArgs(process.argv.slice(2));
  } catch (error) {
    log(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  const command = `npm run soak -- ${process.argv.slice(2).join(" ")}`.trim();
  log(
    `soak: ${options.routers} routers for ${Math.round(options.durationMs / 1000)} s, churn ${options.churnSpec}/min, ` +
      `${options.commandRate} commands/s, ${cpus().length} cores, Node ${process.version}`,
  );
  const run = await soak(options);
  return report(run, command);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`soak failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
