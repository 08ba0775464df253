/**
 * What a soak run found: the verdict on the memory slope, the printed summary, the
 * JSON and SVG files, and (with SOAK_WRITE_DOCS=1) the Soak section of docs/BENCHMARKS.md.
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBenchmarksSection } from "../bench/lib/peers/docs-section.js";
import type { startSimulation } from "../device-sdk/src/simulator/simulation.js";
import {
  fitLine,
  footprintTable,
  heapPoints,
  type LinearFit,
  liveCodePoints,
  liveDataPoints,
  liveHeapPoints,
  liveRssPoints,
  percentile,
  rssPoints,
  type SlopeVerdict,
} from "./analysis.js";
import { PRIME_FACTOR, type SoakOptions } from "./args.js";
import type { WsTally } from "./edge-clients.js";
import type { OutageReport } from "./edge-outages.js";
import type { EventTally } from "./events-sink.js";
import { type CommandTally, succeeded } from "./rails.js";
import {
  describeFit,
  footprintMarkdown,
  footprintText,
  GATE_DATA,
  gatedSeries,
  kbps,
  verdictLine,
} from "./report.js";
import type { Sample } from "./sampler.js";
import { memoryChart } from "./svg.js";
import { extrapolationAllowed, gateVerdict, warmupOptions } from "./warmup.js";

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Everything a finished run hands to the report. */
export interface Run {
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
  /** With --edge-outages: each outage and how the edge's view converged; null without. */
  outages: OutageReport[] | null;
  /** The malloc the broker ran on (scripts/lib/allocator.ts). */
  allocator: "glibc" | "jemalloc";
}

/** Exit codes: 0 flat, 1 a leak the data show (or the broker died), 3 too noisy, short or warm to tell. */
const VERDICT_EXIT: Record<SlopeVerdict, number> = { pass: 0, leak: 1, inconclusive: 3 };

export function report(run: Run, command: string): number {
  const { options, samples, tally } = run;
  // Live (post-GC) RSS when we have it: the raw sawtooth of garbage is noise for a slope this
  // small. Less V8's code when the broker reports it: the JIT's warm-up is bounded by the
  // program, not by uptime, and is reported on its own line (docs/MEMORY.md).
  const series = gatedSeries(samples);
  const gate = gateVerdict(
    { gated: series.points, code: series.code, heap: series.heap },
    options.maxSlopeKbps,
    options.warmupMs === null ? null : options.warmupMs / 1000,
    warmupOptions(options.primeMs / 1000),
  );
  const warmupSeconds = gate.warmupSeconds;
  const rssFit = fitLine(rssPoints(samples), warmupSeconds);
  const heapFit = fitLine(heapPoints(samples), warmupSeconds);
  const liveRssFit = fitLine(liveRssPoints(samples), warmupSeconds);
  const liveHeapFit = fitLine(liveHeapPoints(samples), warmupSeconds);
  const liveCodeFit = fitLine(liveCodePoints(samples), warmupSeconds);
  const liveDataFit = fitLine(liveDataPoints(samples), warmupSeconds);
  const gateFit = gate.fit;
  const gateName = series.name;
  const duration = samples.at(-1)?.t ?? 0;
  // No 30-hour column from warm-up or from minutes: it would multiply a bend by a day.
  const extrapolate = extrapolationAllowed(gate, duration);
  const columns = footprintTable(samples, extrapolate ? gateFit : null, options.sampleIntervalMs / 1000);
  const slopeKbps = kbps(gateFit);
  const verdict: SlopeVerdict = run.brokerExit === 0 ? gate.verdict : "leak";
  const unconverged = (run.outages ?? []).filter((outage) => outage.convergedS === null);
  const pass = verdict === "pass" && unconverged.length === 0;
  const p50 = percentile(tally.rtts, 50);
  const p99 = percentile(tally.rtts, 99);

  const out = resolve(options.out);
  const jsonPath = join(out, "soak.json");
  const svgPath = join(out, "soak.svg");
  const title = `Tether broker memory: ${options.routers} routers with churn, ${Math.round(duration / 60)} min`;
  const subtitle = gate.warmingUp
    ? `still warming up at the end: no slope (limit ${options.maxSlopeKbps} KB/s); ${succeeded(tally)} commands ok`
    : `${gateName} slope after ${Math.round(warmupSeconds)} s warm-up ${slopeKbps.toFixed(3)} KB/s ` +
      `(limit ${options.maxSlopeKbps}); ${succeeded(tally)} commands ok`;
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
        options,
        pass,
        verdict,
        interrupted: run.interrupted,
        brokerExitCode: run.brokerExit,
        memorySource: run.source,
        warmup: {
          primeSeconds: options.primeMs / 1000,
          seconds: warmupSeconds,
          estimated: gate.estimated,
          stillWarmingUp: gate.warmingUp,
          stillBending: gate.stillBending,
          heapLessCode: gate.heapFit ?? null,
        },
        fit: {
          gated: gateName,
          slopeKbps,
          maxSlopeKbps: options.maxSlopeKbps,
          rss: rssFit,
          heap: heapFit,
          liveRss: liveRssFit,
          liveHeap: liveHeapFit,
          liveCode: liveCodeFit,
          liveData: liveDataFit,
        },
        afterFleetStopped: run.afterFleet,
        forcedGcFailures: run.gcFailures,
        table: columns,
        commands: { ...commands, rttP50Ms: p50, rttP99Ms: p99 },
        events: run.events,
        websocket: run.ws,
        edgeOutages: run.outages,
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
    ...(options.primeMs > 0
      ? [
          `priming: the first ${Math.round(options.primeMs / 1000)} s ran at ${PRIME_FACTOR}× the churn and command rates; ` +
            "the fit starts after it",
        ]
      : []),
    ...(gate.warmingUp
      ? ["slopes: none — the run ended inside its warm-up (a warm-up's slope is not a rate to extrapolate)"]
      : [
          describeFit("RSS", rssFit),
          describeFit("heap", heapFit),
          describeFit("RSS after full GC", liveRssFit),
          describeFit("heap after full GC", liveHeapFit),
          describeFit("V8 code after full GC", liveCodeFit),
          describeFit("heap after full GC less V8 code", gate.heapFit ?? null),
          describeFit(GATE_DATA, liveDataFit),
        ]),
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
    ...(run.outages ? outageLines(run.outages) : []),
    `memory source: VmRSS from /proc, heap and counts from ${run.source}; broker exit code ${run.brokerExit}`,
    `wrote ${svgPath} and ${jsonPath}`,
    verdictLine(verdict, gateName, gate, options.maxSlopeKbps, run.brokerExit),
    ...(unconverged.length > 0
      ? [`FAIL: the edge's view did not converge within 60 s after ${unconverged.length} outage(s)`]
      : []),
  ];
  console.log(lines.join("\n"));

  if (process.env.SOAK_WRITE_DOCS === "1") {
    const docs = fileURLToPath(new URL("../docs/", import.meta.url));
    copyFileSync(svgPath, join(docs, "soak.svg"));
    copyFileSync(jsonPath, join(docs, "soak.json"));
    const fits = { gateName, gateFit, rssFit, heapFit, liveRssFit, liveHeapFit, liveCodeFit };
    writeBenchmarksSection(
      "Soak",
      soakSection(
        run,
        command,
        columns,
        fits,
        p50,
        p99,
        verdictLine(verdict, gateName, gate, options.maxSlopeKbps, run.brokerExit),
      ),
    );
    log("wrote docs/soak.svg, docs/soak.json and the Soak section of docs/BENCHMARKS.md");
  }
  return unconverged.length > 0 && verdict === "pass" ? 1 : VERDICT_EXIT[verdict];
}

/** The --edge-outages part of the summary: one line per outage, the view converging (or not). */
function outageLines(outages: OutageReport[]): string[] {
  if (outages.length === 0) return ["edge outages: none happened (run longer than --edge-outage-every)"];
  return outages.map(
    (o, i) =>
      `edge outage ${i + 1} at ${o.atS} s: down ${o.downS} s; ` +
      (o.convergedS === null
        ? `NOT converged: ${o.unconverged.length}+ of ${o.routers} routers never matched (${o.unconverged.join(", ")})`
        : `all ${o.routers} routers matched their truth at the edge ${o.convergedS} s after it was back`),
  );
}

function soakSection(
  run: Run,
  command: string,
  columns: ReturnType<typeof footprintTable>,
  fits: Record<
    "gateFit" | "rssFit" | "heapFit" | "liveRssFit" | "liveHeapFit" | "liveCodeFit",
    LinearFit | null
  > & { gateName: string },
  p50: number | null,
  p99: number | null,
  verdict: string,
): string {
  const { options, tally } = run;
  return [
    `Command: \`${command}\` (machine: ${cpus().length} cores, Node ${process.version}; the broker in its own`,
    "process, the routers and the simulated Rails in the soak's process).",
    "",
    `Workload: ${options.routers} routers (keepalive ${options.keepalive} s, heartbeat event every`,
    `${options.eventIntervalMs / 1000} s, state every ${options.stateIntervalMs / 1000} s), churn per minute \`${options.churnSpec}\``,
    `(applied: ${JSON.stringify(run.sim.churn)}), SESSION_EXPIRY_SECONDS=${options.sessionExpirySeconds},`,
    `${options.commandRate} commands/s (${Math.round(options.queuedShare * 100)}% queued), ${options.edge ? `through the edge (workerd, inspector off) with ${options.edge.wsClients} WebSocket clients watching` : "events forwarded to a local signed sink"},`,
    run.allocator === "jemalloc"
      ? "the broker on jemalloc (LD_PRELOAD of libjemalloc.so.2)."
      : `the broker on glibc malloc with MALLOC_ARENA_MAX=${options.mallocArenaMax || "unset"}.`,
    "",
    footprintMarkdown(columns),
    "",
    `- Gate: ${describeFit(fits.gateName, fits.gateFit)}; limit ${options.maxSlopeKbps} KB/s → **${verdict}**.`,
    `- ${describeFit("RSS after full GC", fits.liveRssFit)}.`,
    `- ${describeFit("V8 code after full GC", fits.liveCodeFit)} (the JIT's warm-up: bounded, see MEMORY.md).`,
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
    ...(run.outages
      ? run.outages.map(
          (o, i) => `- Edge outage ${i + 1}: ${outageLines([o])[0]?.replace(/^edge outage 1 /, "")}.`,
        )
      : []),
    ...(run.events
      ? [
          `- Presence events seen by the sink: ${JSON.stringify(run.events.presence)} — \`session_expired\` are the`,
          "  vanished routers' sessions, reaped during the run.",
        ]
      : []),
    "",
    "![Broker memory during the soak](soak.svg) — data: [soak.json](soak.json).",
    "",
    "The 30 h column (runs of 20 min or more that left warm-up) extrapolates from the end of the run at the fitted slope; the old system's row is",
    "linear between its reported 73 MB at start and 3.47 GB after 30 h (≈ 32 KB/s).",
  ].join("\n");
}
