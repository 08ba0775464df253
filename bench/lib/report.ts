import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import type { ChildMeasurement } from "./broker-child.js";
import type { BrokerKind } from "./ipc.js";

export interface IdleResult {
  kind: BrokerKind;
  connections: number;
  connectFailures: number;
  baseline: ChildMeasurement;
  loaded: ChildMeasurement;
  perConnectionKb: number;
  heapPerConnectionKb: number;
  connectPerSecond: number;
  churnPerSecond: number;
  churnFailures: number;
}

export interface ExpiryResult {
  kind: BrokerKind;
  sessions: number;
  baseline: ChildMeasurement;
  /** After each round of `sessions` churned sessions and (for Tether) their expiry. */
  rounds: ChildMeasurement[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  os: string;
  memoryGb: number;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? "unknown CPU",
    node: process.version,
    os: `Linux ${release()}`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

const SECTION = "## Broker: idle memory and churn";
const FILE = fileURLToPath(new URL("../../docs/BENCHMARKS.md", import.meta.url));
const TARGET_KB = 8;

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const signedMb = (bytes: number) => `${bytes >= 0 ? "+" : "−"}${mb(Math.abs(bytes))}`;
const fixed = (n: number, digits = 2) => n.toFixed(digits);
const whole = (n: number) => Math.round(n).toLocaleString("en-US");

function ratio(tether: number | undefined, aedes: number | undefined): string {
  return tether === undefined || aedes === undefined || aedes === 0 ? "–" : `${(tether / aedes).toFixed(2)}×`;
}

function idleTable(idle: IdleResult[]): string[] {
  const aedes = idle.find((r) => r.kind === "aedes");
  const tether = idle.find((r) => r.kind === "tether");
  const row = (label: string, pick: (r: IdleResult) => number, format: (n: number) => string) => {
    const a = aedes ? pick(aedes) : undefined;
    const t = tether ? pick(tether) : undefined;
    return `| ${label} | ${a === undefined ? "–" : format(a)} | ${t === undefined ? "–" : format(t)} | ${ratio(t, a)} |`;
  };
  return [
    "| | bare Aedes 1.2 | Tether | Tether / Aedes |",
    "|---|---:|---:|---:|",
    row("**RSS per idle connection (KB)**", (r) => r.perConnectionKb, fixed),
    row("V8 heap per idle connection (KB)", (r) => r.heapPerConnectionKb, fixed),
    row("RSS, no connections (MB)", (r) => r.baseline.vmRssBytes, mb),
    row("RSS with the idle connections (MB)", (r) => r.loaded.vmRssBytes, mb),
    row("connect rate (connections/s)", (r) => r.connectPerSecond, whole),
    row("churn rate (connect+disconnect cycles/s)", (r) => r.churnPerSecond, whole),
    row("idle connections open", (r) => r.connections, whole),
    row("failed connects / churn cycles", (r) => r.connectFailures + r.churnFailures, whole),
  ];
}

function expiryTable(result: ExpiryResult): string[] {
  const columns = ["baseline", ...result.rounds.map((_, i) => `after round ${i + 1}`)];
  const all = [result.baseline, ...result.rounds];
  const counts = Object.keys(result.baseline.counts);
  const cells = (pick: (m: ChildMeasurement) => string) => all.map(pick).join(" | ");
  return [
    `| ${result.kind} | ${columns.join(" | ")} |`,
    `|---|${columns.map(() => "---:").join("|")}|`,
    `| RSS (MB) | ${cells((m) => mb(m.vmRssBytes))} |`,
    `| V8 heap used (MB) | ${cells((m) => mb(m.heapUsedBytes))} |`,
    `| external (MB) | ${cells((m) => mb(m.externalBytes))} |`,
    ...counts.map((name) => `| ${name} | ${cells((m) => String(m.counts[name] ?? "–"))} |`),
  ];
}

function expirySummary(result: ExpiryResult): string {
  const last = result.rounds[result.rounds.length - 1];
  const first = result.rounds[0];
  if (!last || !first) return "";
  const heap = last.heapUsedBytes - result.baseline.heapUsedBytes;
  const rss = last.vmRssBytes - result.baseline.vmRssBytes;
  const heapPerSession = heap / (result.sessions * result.rounds.length);
  const between = last.heapUsedBytes - first.heapUsedBytes;
  return (
    `${result.kind}: after ${whole(result.sessions * result.rounds.length)} sessions, heap ${signedMb(heap)} MB ` +
    `(${fixed(heapPerSession, 1)} B per session), RSS ${signedMb(rss)} MB against the baseline; ` +
    `heap ${signedMb(between)} MB from round 1 to round 2.`
  );
}

export interface Report {
  idle: IdleResult[];
  expiry: ExpiryResult[];
  options: { connections: number; churn: number; sessions: number; concurrency: number; subscribe: boolean };
  machine: Machine;
  command: string;
}

export function renderSection(report: Report): string {
  const { machine: m, options: o } = report;
  const tether = report.idle.find((r) => r.kind === "tether");
  const verdict = tether
    ? `Target ≤ ${TARGET_KB} KB RSS per idle router: **${fixed(tether.perConnectionKb)} KB — ${
        tether.perConnectionKb <= TARGET_KB ? "met" : "not met"
      }**.`
    : `Target ≤ ${TARGET_KB} KB RSS per idle router: Tether not measured in this run.`;
  return [
    SECTION,
    "",
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${m.cpus} × ${m.cpuModel} ` +
      `(\`nproc\` = ${m.cpus}), ${m.memoryGb} GB, ${m.os}, Node ${m.node}.`,
    "",
    "```sh",
    report.command,
    "```",
    "",
    `Each broker runs alone in its own child process on 127.0.0.1 with an ephemeral port; the bench process is ` +
      `the client and opens ${whole(o.connections)} raw TCP sockets with a pre-encoded MQTT 3.1.1 CONNECT ` +
      `(clean=false, keepalive 300, unique ids, Tether's derived passwords${o.subscribe ? ", plus a QoS 1 SUBSCRIBE to the device's commands topic" : ""}), ` +
      `${o.concurrency} at a time. RSS is VmRSS from /proc/<pid>/status right after three forced full GCs in the ` +
      "broker (`--expose-gc`; both with `MALLOC_ARENA_MAX=2`, as deployed); per-connection figures are (RSS with connections − RSS before) / connections, " +
      "after a 500-session warm-up. Churn: connect, CONNACK, DISCONNECT, broker closes; unique ids.",
    "",
    verdict,
    "",
    ...idleTable(report.idle),
    "",
    "Where a broker's per-connection heap goes, by object group: " +
      "`npx tsx bench/lib/heap-diff.ts --kind tether --connections 2000` (or `--kind aedes`).",
    "",
    ...(report.expiry.length === 0 ? [] : expirySection(report)),
  ].join("\n");
}

function expirySection(report: Report): string[] {
  const o = report.options;
  return [
    `### ${whole(o.sessions)} unique persistent sessions churned and expired, twice`,
    "",
    "Each round opens sessions with clean=false and a QoS 1 subscription to the device's commands topic, then " +
      "disconnects them. Tether runs with SESSION_EXPIRY_SECONDS=1 and a 500 ms reaper, and the bench waits " +
      "until its session count is 0; bare Aedes has no expiry, so its sessions stay (shown for contrast). " +
      "Measured after forced GC.",
    "",
    ...report.expiry.flatMap((result) => [...expiryTable(result), ""]),
    ...report.expiry.map((result) => `- ${expirySummary(result)}`),
    "",
  ];
}

/** A hand-kept subsection of earlier figures ("before" a change); a new run keeps it. */
const HISTORY = "### Earlier runs";

/**
 * Replaces (or appends) this section of docs/BENCHMARKS.md, keeping every other
 * section and the section's own "### Earlier runs" subsection.
 */
export function writeReport(report: Report, write: boolean): string {
  const section = renderSection(report);
  if (!write) return section;
  const current = existsSync(FILE) ? readFileSync(FILE, "utf8") : "# Benchmarks\n";
  const start = current.indexOf(SECTION);
  let next: string;
  if (start === -1) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const after = current.indexOf("\n## ", start + SECTION.length);
    const old = current.slice(start, after === -1 ? undefined : after + 1);
    const historyAt = old.indexOf(`\n${HISTORY}`);
    const history = historyAt === -1 ? "" : `\n${old.slice(historyAt + 1).trimEnd()}\n`;
    next = `${current.slice(0, start)}${section.trimEnd()}\n${history}${after === -1 ? "" : `\n${current.slice(after + 1)}`}`;
  }
  writeFileSync(FILE, `${next.trimEnd()}\n`);
  return section;
}
