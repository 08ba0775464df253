/**
 * `npm run soak`: the old system's workload and worse, against Tether's broker in
 * its own process; see `npm run soak -- --help` and docs/MEMORY.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startSimulation } from "../device-sdk/src/simulator/simulation.js";
import { allocatorSetup } from "../scripts/lib/allocator.js";
import { freePort } from "../scripts/lib/ports.js";
import { formatBytes } from "./analysis.js";
import { HELP, PRIME_FACTOR, parseSoakArgs, type SoakOptions } from "./args.js";
import { BrokerProcess } from "./broker-process.js";
import { startEdgeClients, type WsTally } from "./edge-clients.js";
import { startEdgeOutages } from "./edge-outages.js";
import { startEventsSink } from "./events-sink.js";
import { InspectorGc } from "./inspector-gc.js";
import { type LocalEdge, startLocalEdge } from "./local-edge.js";
import { type Run, report } from "./outcome.js";
import { type CommandTally, emptyTally, failed, type RailsTarget, startRails, succeeded } from "./rails.js";
import { MemorySampler, type Sample } from "./sampler.js";

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

/**
 * The priming (--prime): for its length, the churn at PRIME_FACTOR times its rates and a
 * second simulated Rails adding PRIME_FACTOR − 1 times the command rate; then the normal load.
 * The JIT tiers up on invocation counts, not time, so its warm-up ends sooner.
 */
function startPriming(
  options: SoakOptions,
  sim: ReturnType<typeof startSimulation>,
  rails: RailsTarget,
  tally: CommandTally,
): { stop(): Promise<void> } {
  if (options.primeMs <= 0) return { stop: async () => {} };
  const boosted = Object.fromEntries(
    Object.entries(options.churn).map(([kind, perMinute]) => [kind, perMinute * PRIME_FACTOR]),
  );
  sim.setChurn(boosted);
  const stopExtra = startRails(
    rails,
    () => sim.routerIds(),
    options.commandRate * (PRIME_FACTOR - 1),
    options.queuedShare,
    tally,
  );
  let done: Promise<void> | null = null;
  const end = () => {
    done ??= (async () => {
      clearTimeout(timer);
      sim.setChurn(options.churn);
      await stopExtra();
      log(`priming ended at ${Math.round(options.primeMs / 1000)} s: normal load from now on`);
    })();
    return done;
  };
  const timer = setTimeout(() => void end(), options.primeMs);
  log(
    `priming: ${Math.round(options.primeMs / 1000)} s at ${PRIME_FACTOR}× the churn and command rates ` +
      "(the fit never starts before it ends)",
  );
  return { stop: end };
}

async function soak(options: SoakOptions): Promise<Run> {
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const deviceSecret = randomBytes(24).toString("base64url");
  const apiToken = randomBytes(24).toString("base64url");
  const eventsSecret = randomBytes(24).toString("base64url");
  // With --edge the edge comes first (the broker's forwarder would otherwise back off)
  // and must know the broker's HTTP port before the broker has it: pick one.
  const httpPort = options.edge && options.httpPort === 0 ? await freePort() : options.httpPort;
  let edge: LocalEdge | null = null;
  if (options.edge) {
    const port = await freePort();
    log(`starting the edge (workerd, inspector off) on port ${port} (log: ${join(out, "edge.log")})`);
    edge = await startLocalEdge({
      port,
      brokerHttp: `http://127.0.0.1:${httpPort}`,
      brokerApiToken: apiToken,
      eventsSecret,
      logFile: join(out, "edge.log"),
    });
  }
  const sink = edge ? null : await startEventsSink(eventsSecret);
  const allocator = allocatorSetup(options.allocator, {
    arenaMax: options.mallocArenaMax,
    preload: process.env.LD_PRELOAD ?? "",
  });
  log(allocator.message);
  const broker = await BrokerProcess.start(
    {
      DEVICE_SECRET: deviceSecret,
      BROKER_API_TOKEN: apiToken,
      HOST: "127.0.0.1",
      MQTT_PORT: String(options.mqttPort),
      HTTP_PORT: String(httpPort),
      SESSION_EXPIRY_SECONDS: String(options.sessionExpirySeconds),
      EDGE_EVENTS_URL: edge ? `${edge.url}/internal/events` : (sink?.url ?? ""),
      EDGE_EVENTS_SECRET: eventsSecret,
      LOG_LEVEL: options.brokerLogLevel,
      MEMORY_LOG_INTERVAL_SECONDS: "60",
      HEAP_SNAPSHOT_DIR: join(out, "heap"),
      // Every simulated router connects from 127.0.0.1; a real fleet comes from many addresses.
      MAX_UNAUTHENTICATED_PER_ADDRESS: "100000",
      STATE_DIR: join(out, "state"),
      ...allocator.env,
    },
    join(out, "broker.log"),
    { inspect: options.gcEveryMs > 0 },
  ).catch(async (error: unknown) => {
    await edge?.stop();
    throw error;
  });
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
  const rails = edge ? { url: edge.url, token: edge.railsToken } : { url: broker.httpUrl, token: apiToken };
  const stopRails = startRails(rails, () => sim.routerIds(), options.commandRate, options.queuedShare, tally);
  const priming = startPriming(options, sim, rails, tally);
  const ws: WsTally | null = edge ? { open: 0, frames: 0, closes: 0, errors: 0 } : null;
  const stopWs =
    ws && edge && options.edge
      ? startEdgeClients(edge.url, edge.clientJwtSecret, () => sim.routerIds(), options.edge.wsClients, ws)
      : () => {};
  const outages =
    edge && options.edge?.outages
      ? startEdgeOutages(edge, sim, startedAt, { ...options.edge.outages, convergeLimitMs: 60_000 }, log)
      : null;

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

  await priming.stop();
  const outageReports = (await outages?.stop()) ?? null;
  stopWs();
  await stopRails();
  const simStats = sim.stats();
  await sim.stop();
  // A last look once the fleet is gone: every client and pending command must be released.
  // Routers the churn had just made half-open are found only by keepalive (1.5 × it): wait for
  // that rather than a fixed 2 s (29 of 5,000 routers were still counted 2 s after the stop).
  const stoppedAt = performance.now();
  const drainBy = stoppedAt + options.keepalive * 1_500 + 5_000;
  await sleep(2_000);
  while (!broker.exited && performance.now() < drainBy) {
    const { clients, pendingCommands, forwarderQueue } = await sampler.sample();
    if (!clients && !pendingCommands && !forwarderQueue) break;
    await sleep(1_000);
  }
  let afterFleet: Sample | null = null;
  if (!broker.exited) {
    afterFleet = await sampler.sample({ forceGc: true });
    log(
      `after the fleet stopped (${((performance.now() - stoppedAt) / 1000).toFixed(0)} s later): ` +
        `clients ${afterFleet.clients ?? "?"}, pending ${afterFleet.pendingCommands ?? "?"}, ` +
        `forwarder queue ${afterFleet.forwarderQueue ?? "?"}, RSS ${formatBytes(afterFleet.rss)}` +
        (afterFleet.liveHeap === null ? "" : `, heap after GC ${formatBytes(afterFleet.liveHeap)}`),
    );
  }
  inspector?.close();
  const wasRunning = !broker.exited;
  const brokerExit = await broker.stop();
  await sink?.close();
  await edge?.stop();
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
    outages: outageReports,
    allocator: allocator.allocator,
  };
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
      `priming ${Math.round(options.primeMs / 1000)} s, allocator ${options.allocator}, MALLOC_ARENA_MAX ${options.mallocArenaMax || "unset"}, ` +
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
