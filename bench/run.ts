/**
 * `npm run bench`: Tether's broker beside bare Aedes and Mosquitto, in one run, on
 * ephemeral ports (issue 6). Writes the "Peers" section of docs/BENCHMARKS.md.
 * Not a test. See `npm run bench -- --help`.
 */
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { deployedAllocator } from "../scripts/lib/allocator.js";
import { EDGE_SETTINGS, type EdgeKneeSpec } from "./lib/edge-knee/leg.js";
import { EDGE_KNEE_RATES, runEdgeKnee } from "./lib/edge-knee/section.js";
import { KNEE_P99_MS, KNEE_RAMP } from "./lib/overload/knee.js";
import { writeBenchmarksSection } from "./lib/peers/docs-section.js";
import { edgeLeg } from "./lib/peers/edge-leg.js";
import { benchOperatorRounds, benchPeer } from "./lib/peers/legs.js";
import { MOSQUITTO, type PeerKind, portsClosed } from "./lib/peers/peers.js";
import { type PeerResult, type PeersReport, renderPeers } from "./lib/peers/section.js";
import { log, runOverload, runStorm, STORM_PER_SOURCE, whole } from "./lib/run-legs.js";

const HELP = `Usage: npm run bench -- [options]

Tether's broker, bare Aedes 1.2 and Mosquitto (${MOSQUITTO}), side by side, each in its own
process on ephemeral ports:
  - RSS per idle router at N connections, connect rate, churn rate;
  - QoS 1 fan-in: many publishers → one consumer, msgs/s;
  - command round trip p50/p99 at a fixed rate (Tether: through its HTTP API).
Writes the "Peers" section of docs/BENCHMARKS.md (with the machine and this command).

Options:
  --routers N       routers of the operator leg: VmRSS with no forced GC 5 s after the last
                    SUBACK, and the connect rate, on a fresh broker (default 15000; 0 skips it)
  --rounds N        rounds of the operator leg per broker, alternating the brokers (each round
                    starting with the next one; an unreported warm-up leg first), each on a fresh
                    one; its figures are the medians
                    (default 3: one slow spell of a shared machine then moves one round of one
                    broker, not the comparison)
  --operator-only   only the operator leg (no after-GC steps, churn, fan-in, round trips, edge)
  --connections N   idle routers (default 10000; needs \`ulimit -n\` above N + 1024)
  --churn N         connect+disconnect cycles with unique ids (default 5000)
  --concurrency N   connections opened at once (default 100)
  --publishers N    fan-in publishers (default 100)
  --messages N      QoS 1 messages per publisher (default 100)
  --rate N          commands per second (default 500)
  --seconds N       how long the command rate is held (default 10)
  --devices N       answering devices for the commands (default 10)
  --only LIST       comma-separated subset of tether,aedes,mosquitto,overload,storm,edge-knee
                    (\`--only edge-knee\`: the command knee through the local edge, inspector off and on
                    and as npm start runs it, at --edge-rates for --seconds each, --devices routers)
                    (\`--only overload\`: just the overload leg; \`--only storm\`: the reconnect storm,
                    Tether's broker SIGKILLed and restarted under --routers routers on the SDK's backoff)
  --per-address N   the storm's MAX_UNAUTHENTICATED_PER_ADDRESS (default: the broker's default)
  --per-source N    the storm's routers per source address, 127.1.x.y (default ${STORM_PER_SOURCE})
  --down-ms N       the storm restarts the broker N ms after the kill (default 0; systemd's RestartSec)
  --knee N|auto     the overload leg's sustainable rate, commands/s; auto (the default) measures
                    it first: from ${KNEE_RAMP.from}/s up by ×${KNEE_RAMP.factor}, ${KNEE_RAMP.seconds} s a step, the highest rate
                    with every command a 200 and p99 ≤ ${KNEE_P99_MS} ms before two steps in a row miss.
                    The leg offers 0.5×, 1×, 2× and 4× of it
  --overload-seconds N  how long each overload rate is held (default 10)
  --no-compare      overload leg without the run with admission control off
  --factors LIST    the overload leg's multiples of the knee (default 0.5,1,2,4; the first is the
                    recovery yardstick). Environment: BENCH_OVERLOAD_DEVICES (routers, default 20),
                    BENCH_OVERLOAD_SETTINGS (JSON startBroker options for the first configuration),
                    BENCH_OVERLOAD_SAMPLES (path prefix: every request of each configuration c0, c1 and rate as JSON)
  --no-edge         skip the edge leg: command round trips through the local edge (workerd,
                    as \`npm start\` runs it) beside the same system's broker API
  --edge-rates LIST the edge knee's rates, commands/s (default ${EDGE_KNEE_RATES.join(",")})
  --edge-inspector off|on  the edge knee with wrangler's inspector only off or only on (in process)
  --edge-settings LIST  the edge knee's settings (default off,on,npm-start): off / on = the edge in
                    the bench's process (wrangler's unstable_startWorker), inspector off / on;
                    npm-start = as npm start spawns it (scripts/edge-dev.ts, inspector off);
                    wrangler-dev = npm start -- --inspector (wrangler dev, as npm start ran before issue 14)
  --no-write        print the section, do not touch docs/BENCHMARKS.md
  --help            this text`;

function shell(command: string): string {
  try {
    return execFileSync("sh", ["-c", command], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      connections: { type: "string" },
      routers: { type: "string" },
      "operator-only": { type: "boolean", default: false },
      rounds: { type: "string" },
      "per-address": { type: "string" },
      "per-source": { type: "string" },
      "down-ms": { type: "string" },
      churn: { type: "string" },
      concurrency: { type: "string" },
      publishers: { type: "string" },
      messages: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string" },
      devices: { type: "string" },
      only: { type: "string" },
      knee: { type: "string" },
      "overload-seconds": { type: "string" },
      "edge-rates": { type: "string" },
      "edge-inspector": { type: "string" },
      "edge-settings": { type: "string" },
      "no-compare": { type: "boolean", default: false },
      factors: { type: "string" },
      "no-write": { type: "boolean", default: false },
      "no-edge": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const o: PeersReport["options"] = {
    connections: whole("connections", values.connections, 10_000),
    routers: values.routers === "0" ? 0 : whole("routers", values.routers, 15_000),
    churn: whole("churn", values.churn, 5_000),
    publishers: whole("publishers", values.publishers, 100),
    perPublisher: whole("messages", values.messages, 100),
    rate: whole("rate", values.rate, 500),
    seconds: whole("seconds", values.seconds, 10),
    devices: whole("devices", values.devices, 10),
  };
  const concurrency = whole("concurrency", values.concurrency, 100);
  const rounds = whole("rounds", values.rounds, 3);
  const only = (values.only ?? "tether,aedes,mosquitto,overload").split(",").map((k) => k.trim());
  const withOverload = only.includes("overload");
  const withStorm = only.includes("storm");
  const kinds = only.filter((k) => k !== "overload" && k !== "storm" && k !== "edge-knee");
  if (!kinds.every((k): k is PeerKind => k === "tether" || k === "aedes" || k === "mosquitto")) {
    log(`--only takes tether, aedes, mosquitto, overload, storm and/or edge-knee (got "${values.only}")`);
    return 2;
  }
  const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
  const stormCode = withStorm
    ? await runStorm(
        o.routers || 15_000,
        { perAddress: values["per-address"], perSource: values["per-source"], downMs: values["down-ms"] },
        command,
        values["no-write"] === true,
      )
    : 0;
  const edgeSettings = (
    values["edge-settings"] ??
    { off: "off", on: "on" }[values["edge-inspector"] ?? ""] ??
    "off,on,npm-start"
  )
    .split(",")
    .map((name) => EDGE_SETTINGS[name.trim()]);
  if (!edgeSettings.every((spec): spec is EdgeKneeSpec => spec !== undefined)) {
    log(`--edge-settings takes ${Object.keys(EDGE_SETTINGS).join(", ")} (got "${values["edge-settings"]}")`);
    return 2;
  }
  const kneeCode = only.includes("edge-knee")
    ? await runEdgeKnee(
        {
          rates: (values["edge-rates"] ?? EDGE_KNEE_RATES.join(","))
            .split(",")
            .map((r) => whole("edge-rates", r, 100)),
          seconds: values.seconds === undefined ? 5 : o.seconds,
          devices: values.devices === undefined ? 20 : o.devices,
          settings: edgeSettings,
        },
        command,
        values["no-write"] === true,
        log,
      )
    : 0;
  if (kinds.length === 0)
    return (withOverload ? await runOverload(values, command) : 0) || stormCode || kneeCode;
  const soft = Number(shell("ulimit -n"));
  const most = Math.max(o.connections, o.routers);
  if (Number.isFinite(soft) && soft < most + 1024) {
    log(
      `ulimit -n is ${soft}: ${most} connections need ${most + 1024}. Raise it or lower --connections/--routers.`,
    );
    return 1;
  }
  const machine: PeersReport["machine"] = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown CPU",
    node: process.version,
    mosquitto: shell(`${MOSQUITTO} -h | head -1`),
    ulimit: String(soft),
    tetherAllocator: deployedAllocator().message,
  };
  log(
    `Peers bench: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ${machine.mosquitto}; ${JSON.stringify(o)}`,
  );

  const operatorOnly = values["operator-only"] === true;
  const results: PeerResult[] = kinds.map((kind) => ({
    kind,
    operator: null,
    operatorRounds: [],
    idle: null,
    fanIn: null,
    roundTrip: null,
    error: null,
  }));
  const cleanup = o.routers > 0 ? await benchOperatorRounds(results, o.routers, rounds) : [];
  if (!operatorOnly)
    for (const result of results)
      cleanup.push({ kind: result.kind, ...(await benchPeer(result, o, concurrency)) });

  // Every peer must be gone: its process exited and its ports closed.
  const leftovers: string[] = [];
  for (const { kind, ports, pid } of cleanup) {
    const alive = shell(`kill -0 ${pid} 2>/dev/null && echo alive`) === "alive";
    if (alive || !(await portsClosed(ports)))
      leftovers.push(`${kind} (pid ${pid}, ports ${ports.join(", ")})`);
  }
  log(
    leftovers.length === 0
      ? `\ncleanup: ${cleanup.length} brokers stopped, their ports closed`
      : `\ncleanup FAILED: ${leftovers.join("; ")}`,
  );

  let edge: Awaited<ReturnType<typeof edgeLeg>> | null = null;
  if (!values["no-edge"] && !operatorOnly) {
    log("\n[edge]");
    edge = await edgeLeg(o, log);
  }

  const section = renderPeers({ results, edge, command, machine, options: o });
  if (!values["no-write"] && !operatorOnly) {
    writeBenchmarksSection("Peers", section);
    log("wrote the Peers section of docs/BENCHMARKS.md");
  }
  console.log(`\n## Peers\n\n${section}`);
  const overloadCode = withOverload ? await runOverload(values, command) : 0;
  return leftovers.length === 0 && results.every((r) => r.error === null) && !edge?.error ? overloadCode : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
