import { cpus } from "node:os";
import { writeBenchmarksSection } from "../peers/docs-section.js";
import { type EdgeKneeResult, type EdgeKneeSpec, edgeKneeLeg, KNEE_P99_MS } from "./leg.js";

/** The edge knee's default rates (commands/s): doubling, as the broker's knee was found. */
export const EDGE_KNEE_RATES = [100, 200, 400, 800];

const ms = (n: number | null) => (n === null ? "–" : n.toFixed(1));
const us = (n: number) => Math.round(n).toLocaleString("en-US");

/** The "Edge knee" section of docs/BENCHMARKS.md. */
export function renderEdgeKnee(result: EdgeKneeResult, command: string, machine: string): string {
  const lines = [
    `Command: \`${command}\``,
    "",
    `Machine: ${machine}. Tether's broker alone in its own process (defaults), ${result.devices} answering routers`,
    "in another, the edge on local workerd from wrangler.toml — wrangler's `unstable_startWorker` in the bench's",
    'process ("inspector off/on"), or started as `npm start` starts it (`spawnEdge`: scripts/edge-dev.ts, or',
    "`wrangler dev` with `--inspector`, in its own process group) — and the overload leg's lean open-loop HTTP/1.1",
    "generator (at most 512 keep-alive connections) sending",
    `\`POST /v1/devices/{id}/commands\` to the edge, each rate held ${result.seconds} s, latency from the scheduled send.`,
    `The knee: the highest rate with every command a 200 and p99 ≤ ${KNEE_P99_MS} ms; a setting stops after a rate with a failure or p99 > 1 s.`,
    "CPU per command (µs, user + system from /proc/<pid>/stat) of each process; the bench's process holds the",
    "generator, and wrangler's controller when in process; \"wrangler µs\" is the spawned edge's Node process (and",
    'its esbuild). "Up in": from launch until the edge answered. A load average well above 2 means other processes took CPU.',
    "",
  ];
  for (const setting of result.settings) {
    lines.push(
      `**${setting.label}** — knee ${setting.knee === null ? "below the first rate" : `${setting.knee.toLocaleString("en-US")}/s`}; up in ${(setting.startMs / 1000).toFixed(1)} s${setting.startCpuS === null ? "" : ` (${setting.startCpuS.toFixed(1)} s of CPU)`}`,
      "",
      "| offered | ok / sent | 429/503 | failed | p50 (ms) | p99 (ms) | generator late p99 (ms) | workerd µs | wrangler µs | bench process µs | broker µs | routers µs | load |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...setting.runs.map(
        (r) =>
          `| ${r.rate}/s | ${r.ok} / ${r.sent} | ${r.refused} | ${r.failed} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.sendLateP99)} | ${us(r.cpuUs.workerd)} | ${setting.via === "in-process" ? "in bench" : us(r.cpuUs.wrangler)} | ${us(r.cpuUs.bench)} | ${us(r.cpuUs.broker)} | ${us(r.cpuUs.routers)} | ${r.load.toFixed(1)} |`,
      ),
      "",
    );
  }
  if (result.error) lines.push(`The leg failed: ${result.error}`, "");
  return lines.join("\n");
}

/** `npm run bench -- --only edge-knee`: runs the leg and writes its section (unless `noWrite`). */
export async function runEdgeKnee(
  o: { rates: number[]; seconds: number; devices: number; settings: EdgeKneeSpec[] },
  command: string,
  noWrite: boolean,
  log: (line: string) => void,
): Promise<number> {
  log(`\n[edge knee] ${o.rates.join(", ")}/s, ${o.seconds} s each, ${o.devices} devices`);
  const result = await edgeKneeLeg(o, log);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}`;
  const section = renderEdgeKnee(result, command, machine);
  if (!noWrite) writeBenchmarksSection("Edge knee", section);
  console.log(`\n## Edge knee\n\n${section}`);
  return result.error === null ? 0 : 1;
}
