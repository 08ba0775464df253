import type { EdgeLegResult } from "./edge-leg.js";
import type { FanInResult } from "./fan-in.js";
import type { IdleResult } from "./idle.js";
import { OPERATOR_SETTLE_MS, type OperatorResult } from "./operator.js";
import { PEER_LABEL, type PeerKind } from "./peers.js";
import type { RoundTripResult } from "./round-trip.js";

export interface PeerResult {
  kind: PeerKind;
  /** What an operator sees: no forced GC (issue 14), the median of its rounds; null when skipped. */
  operator: OperatorResult | null;
  /** The operator leg's rounds, in order (each on a fresh broker, alternating with the other brokers'). */
  operatorRounds: OperatorResult[];
  idle: IdleResult | null;
  fanIn: FanInResult | null;
  roundTrip: RoundTripResult | null;
  error: string | null;
}

export interface PeersReport {
  results: PeerResult[];
  /** Round trips through the local edge; null with --no-edge. */
  edge: EdgeLegResult | null;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    mosquitto: string;
    ulimit: string;
    /** Tether's allocator line (scripts/lib/allocator.ts), as its broker ran. */
    tetherAllocator: string;
  };
  options: {
    connections: number;
    /** Routers of the operator leg (0: skipped). */
    routers: number;
    churn: number;
    publishers: number;
    perPublisher: number;
    rate: number;
    seconds: number;
    devices: number;
  };
}

const TARGET_KB = 8;
const TARGET_P99_MS = 10;
const whole = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number | null) => (n === null ? "–" : n.toFixed(2));
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

function row(
  results: PeerResult[],
  label: string,
  pick: (r: PeerResult) => number | null | undefined,
  format: (n: number) => string,
): string {
  const tetherResult = results.find((r) => r.kind === "tether");
  const tether = tetherResult ? pick(tetherResult) : null;
  const cells = results.map((r) => {
    const v = pick(r);
    return v === null || v === undefined ? "–" : format(v);
  });
  const ratios = results
    .filter((r) => r.kind !== "tether")
    .map((r) => {
      const v = pick(r);
      return tether === null || tether === undefined || v === null || v === undefined || v === 0
        ? "–"
        : `${(tether / v).toFixed(2)}×`;
    });
  return `| ${label} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`;
}

/** The "Peers" section of docs/BENCHMARKS.md. */
export function renderPeers(report: PeersReport): string {
  const { results, options: o, machine: m } = report;
  const others = results.filter((r) => r.kind !== "tether").map((r) => `Tether / ${PEER_LABEL[r.kind]}`);
  const tether = results.find((r) => r.kind === "tether");
  const perConn = tether?.idle?.rssPerConnectionKb;
  const p99 = tether?.roundTrip?.p99 ?? null;
  return [
    `Command: \`${report.command}\``,
    "",
    `Machine: ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.mosquitto}, \`ulimit -n\` ${m.ulimit}. Each broker runs`,
    "alone in its own process on ephemeral ports (Tether with its deployed Node flags, bare Aedes with Node's defaults;",
    `in the operator rows Tether on its deployed allocator — ${m.tetherAllocator} —, in the after-GC rows and below`,
    "both Node brokers with `--expose-gc` on glibc with `MALLOC_ARENA_MAX=2`, since jemalloc keeps freed pages resident for",
    "~10 s after a forced GC; Mosquitto with a temporary config: anonymous, `persistence false`, `max_connections -1`,",
    "`max_queued_messages 10000` like Tether's forwarder buffer, `set_tcp_nodelay true` like Tether's server;",
    "bare Aedes with Nagle off too); the clients run in the bench's process.",
    "Other work on this 2-core machine adds noise to every figure.",
    "",
    `| | ${results.map((r) => PEER_LABEL[r.kind]).join(" | ")} | ${others.join(" | ")} |`,
    `|---|${results.map(() => "---:").join("|")}|${others.map(() => "---:").join("|")}|`,
    row(
      results,
      `**RSS per idle router, as an operator sees it (KB)**, ${whole(o.routers)} routers, no forced GC`,
      (r) => r.operator?.perRouterKb,
      (n) => n.toFixed(2),
    ),
    row(results, "VmRSS before the routers, no forced GC (MB)", (r) => r.operator?.rssBefore, mb),
    row(
      results,
      `VmRSS ${OPERATOR_SETTLE_MS / 1000} s after the last SUBACK, no forced GC (MB)`,
      (r) => r.operator?.rssIdle,
      mb,
    ),
    row(
      results,
      "**connect rate, CONNECT + auth + SUBSCRIBE → SUBACK (routers/s)**, 250 at a time",
      (r) => r.operator?.connectPerSecond,
      whole,
    ),
    row(
      results,
      "broker CPU per router connecting (µs, user + system)",
      (r) => r.operator?.cpuPerConnectUs,
      whole,
    ),
    `| load average (1 min) at the start → end of that leg | ${results
      .map((r) => (r.operator ? r.operator.load.map((l) => l.toFixed(1)).join(" → ") : "–"))
      .join(" | ")} | ${others.map(() => "").join(" | ")} |`,
    row(results, "failed operator connects", (r) => r.operator?.failures, whole),
    `| each round: KB per router · routers/s · µs CPU each | ${results
      .map((r) =>
        r.operatorRounds.length === 0
          ? "–"
          : r.operatorRounds
              .map(
                (x) =>
                  `${x.perRouterKb.toFixed(2)} · ${whole(x.connectPerSecond)} · ${whole(x.cpuPerConnectUs)}`,
              )
              .join("<br>"),
      )
      .join(" | ")} | ${others.map(() => "").join(" | ")} |`,
    row(
      results,
      `**RSS per idle router after forced GC (KB)**, ${whole(o.connections)} connections, median step`,
      (r) => r.idle?.rssPerConnectionKb,
      (n) => n.toFixed(2),
    ),
    `| RSS per idle router by step of ${whole(Math.ceil(o.connections / 5))} (KB) | ${results
      .map((r) => r.idle?.rssStepsKb.map((k) => k.toFixed(1)).join(" · ") ?? "–")
      .join(" | ")} | ${others.map(() => "").join(" | ")} |`,
    row(
      results,
      "RSS per idle router, one difference (KB)",
      (r) => r.idle?.rssOverallKb,
      (n) => n.toFixed(2),
    ),
    row(results, "RSS with no connections (MB)", (r) => r.idle?.baseline.rss, mb),
    row(results, "RSS with the idle routers (MB)", (r) => r.idle?.loaded.rss, mb),
    row(results, "connect rate (connections/s)", (r) => r.idle?.connectPerSecond, whole),
    row(
      results,
      `churn rate (connect+disconnect/s, ${whole(o.churn)} unique ids)`,
      (r) => r.idle?.churnPerSecond,
      whole,
    ),
    row(
      results,
      "failed connects + churn cycles",
      (r) => (r.idle ? r.idle.connectFailures + r.idle.churnFailures : null),
      whole,
    ),
    row(
      results,
      `QoS 1 fan-in accepted (msgs/s, ${o.publishers} publishers → 1)`,
      (r) => r.fanIn?.acceptedPerSecond,
      whole,
    ),
    row(
      results,
      "QoS 1 fan-in delivered to the one consumer (msgs/s)",
      (r) => r.fanIn?.deliveredPerSecond,
      whole,
    ),
    row(
      results,
      `messages delivered of ${whole(o.publishers * o.perPublisher)}`,
      (r) => r.fanIn?.delivered,
      whole,
    ),
    row(results, `command RTT p50 (ms) at ${o.rate}/s`, (r) => r.roundTrip?.p50, ms),
    row(results, `command RTT p99 (ms) at ${o.rate}/s`, (r) => r.roundTrip?.p99, ms),
    row(results, "command RTT max (ms)", (r) => r.roundTrip?.max, ms),
    row(results, "commands failed", (r) => r.roundTrip?.failed, whole),
    "",
    "How to read it:",
    `- Operator rows: a freshly started broker (its own process, no forced GC ever), a 300-session warm-up, then ${whole(o.routers)}`,
    "  routers as below opened 250 at a time from source addresses 127.0.0.2–9; RSS per router = (VmRSS of",
    `  /proc/<pid>/status ${OPERATOR_SETTLE_MS / 1000} s after the last SUBACK − VmRSS before) / routers; connect rate = routers / time`,
    "  from the first CONNECT to the last SUBACK. Each broker's figure is the median of its rounds (`--rounds`), run",
    "  alternately after an unreported warm-up leg, each round starting with the next broker (Tether, bare Aedes, Mosquitto;",
    "  bare Aedes, Mosquitto, Tether; …),",
    "  each on a fresh broker, so a slow spell of this shared machine moves one round of one broker rather than the comparison. The after-GC rows below come from another fresh broker.",
    "- Idle routers: clean=false, keepalive 300 s, each subscribed to its commands topic at QoS 1, as the SDK does,",
    "  opened in five steps with a measurement after each; RSS per router = the median step's VmRSS growth / routers",
    "  in it (one difference, (VmRSS with them − VmRSS before) / routers, is shown too: it moved by KBs between runs).",
    "- Fan-in: every publisher sends QoS 1 messages to its own `devices/{id}/events/bench` (10 in flight each).",
    "  For Aedes and Mosquitto the consumer is one subscriber to `devices/+/events/#` at QoS 1; Tether lets no",
    "  device subscribe to another's topics, so its consumer is the event forwarder, POSTing signed batches to a",
    "  local stand-in for the edge (`/internal/events`). Fewer delivered than sent = dropped by a bounded buffer.",
    `- Command RTT: Tether through its HTTP API (\`POST /v1/devices/{id}/commands\`, the device answers over MQTT),`,
    `  open loop at ${o.rate}/s for ${o.seconds} s over ${o.devices} answering devices; the others have no command API, so the`,
    "  same request/response over plain MQTT (a requester publishes to the device's commands topic and waits on its",
    "  results topic, QoS 1) is their reference.",
    "",
    `Targets: ≤ ${TARGET_KB} KB RSS per idle router after GC → ${perConn === undefined ? "not measured" : perConn <= TARGET_KB ? `met (${perConn.toFixed(2)} KB)` : `**missed** (${perConn.toFixed(2)} KB)`};`,
    `as an operator sees it (issue 14: ≤ ${TARGET_KB} KB and ≤ bare Aedes; connect rate ≥ bare Aedes) → ${operatorVerdict(results)};`,
    `command RTT p99 ≤ ${TARGET_P99_MS} ms at 500 commands/s → ${p99 === null ? "not measured" : o.rate < 500 ? `not comparable (run at ${o.rate}/s)` : p99 <= TARGET_P99_MS ? `met (${p99.toFixed(2)} ms)` : `**missed** (${p99.toFixed(2)} ms)`}.`,
    ...results.filter((r) => r.error).map((r) => `- ${PEER_LABEL[r.kind]}: ${r.error}`),
    ...(report.edge ? ["", ...edgeLines(report.edge, o)] : []),
  ].join("\n");
}

function operatorVerdict(results: PeerResult[]): string {
  const tether = results.find((r) => r.kind === "tether");
  const aedes = results.find((r) => r.kind === "aedes");
  const t = tether?.operator;
  const a = aedes?.operator;
  if (!t) return "not measured";
  const kb = `${t.perRouterKb.toFixed(2)} KB${a ? ` vs ${a.perRouterKb.toFixed(2)}` : ""}`;
  const under = t.perRouterKb <= TARGET_KB ? "met" : "**missed**";
  const belowAedes = !a ? "not measured" : t.perRouterKb <= a.perRouterKb ? "met" : "**missed**";
  const rate = a
    ? `${whole(t.connectPerSecond)}/s vs ${whole(a.connectPerSecond)}/s`
    : `${whole(t.connectPerSecond)}/s`;
  const rateMet = !a || t.connectPerSecond >= a.connectPerSecond;
  return `RSS ≤ ${TARGET_KB} KB ${under}, ≤ bare Aedes ${belowAedes} (${kb}), connect rate ${rateMet ? "met" : "**missed**"} (${rate})${roundsLine(tether?.operatorRounds ?? [], aedes?.operatorRounds ?? [])}`;
}

/** How many rounds, paired in order, Tether beat bare Aedes in, when there were several. */
export function roundsLine(tether: readonly OperatorResult[], aedes: readonly OperatorResult[]): string {
  const pairs = Math.min(tether.length, aedes.length);
  if (pairs < 2) return "";
  let smaller = 0;
  let faster = 0;
  for (let i = 0; i < pairs; i++) {
    const t = tether[i] as OperatorResult;
    const a = aedes[i] as OperatorResult;
    if (t.perRouterKb <= a.perRouterKb) smaller++;
    if (t.connectPerSecond >= a.connectPerSecond) faster++;
  }
  return `; medians of ${pairs} alternating rounds, round by round ≤ bare Aedes's RSS in ${smaller} and its connect rate or more in ${faster}`;
}

/** The edge leg: the same system's broker API beside its edge, per rate, one run. */
function edgeLines(edge: EdgeLegResult, o: PeersReport["options"]): string[] {
  const ratio = (x: number | null | undefined, y: number | null | undefined) =>
    x === null || x === undefined || y === null || y === undefined || y === 0
      ? "–"
      : `${(x / y).toFixed(2)}×`;
  const header = edge.runs.flatMap((r) => [`broker API ${r.rate}/s`, `edge ${r.rate}/s`, "edge / broker"]);
  const line = (label: string, pick: (rt: RoundTripResult | null) => string) =>
    `| ${label} | ${edge.runs.flatMap((r) => [pick(r.viaBroker), pick(r.viaEdge), ""]).join(" | ")} |`;
  const stat = (label: string, key: "p50" | "p99" | "max") =>
    `| ${label} | ${edge.runs
      .flatMap((r) => [
        ms(r.viaBroker?.[key] ?? null),
        ms(r.viaEdge?.[key] ?? null),
        ratio(r.viaEdge?.[key], r.viaBroker?.[key]),
      ])
      .join(" | ")} |`;
  return [
    `Through the local edge (\`npm start\`'s system: broker in memory + edge on workerd, wrangler's inspector off), open loop for`,
    `${o.seconds} s per rate over ${o.devices} answering devices; at each rate first the broker API, then Rails' route on the edge`,
    "(`POST /v1/devices/{id}/commands` → the Worker → the broker API → the device and back):",
    "",
    `| | ${header.join(" | ")} |`,
    `|---|${header.map(() => "---:").join("|")}|`,
    stat("command RTT p50 (ms)", "p50"),
    stat("command RTT p99 (ms)", "p99"),
    stat("command RTT max (ms)", "max"),
    line("commands ok / sent", (rt) => (rt ? `${whole(rt.ok)} / ${whole(rt.sent)}` : "–")),
    "",
    "The local edge is a development server: one workerd process on this 2-core machine, beside the broker and the",
    "bench's clients, not Cloudflare's network. The edge columns say what the Worker's own path costs here; where",
    "the p50 climbs into hundreds of ms, requests queue because local workerd cannot keep up with that rate.",
    ...(edge.error ? [`- edge leg failed: ${edge.error}`] : []),
    ...edge.runs.flatMap((r) => [
      ...(r.viaBroker?.firstFailure
        ? [`- broker API at ${r.rate}/s, first failure: ${r.viaBroker.firstFailure}`]
        : []),
      ...(r.viaEdge?.firstFailure ? [`- edge at ${r.rate}/s, first failure: ${r.viaEdge.firstFailure}`] : []),
    ]),
  ];
}
